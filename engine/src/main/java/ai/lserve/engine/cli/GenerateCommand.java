package ai.lserve.engine.cli;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "generate", description = "Generate a continuation (greedy unless --temperature is given).")
final class GenerateCommand implements Callable<Integer> {
  @Mixin EngineArgs engine;

  static final class Prompt {
    @Option(names = "--input-ids", description = "prompt token ids, comma-separated")
    String inputIds;

    @Option(names = "--prompt", description = "prompt text (needs the model's tokenizer.json)")
    String text;

    @Option(names = "--random-prompt", paramLabel = "N",
        description = "N random token ids, uniform over the vocabulary and seeded by --seed (default 0): long prompts"
            + " without a tokenizer or a command line of N ids")
    Integer randomLength;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  Prompt prompt;

  @Option(names = "--max-new-tokens", required = true, description = "tokens to generate at most")
  int maxNewTokens;

  @Option(names = "--temperature", description = "sampling temperature (default: greedy)")
  Double temperature;

  @Option(names = "--top-p", description = "nucleus sampling mass")
  Double topP;

  @Option(names = "--top-k", description = "sample among the k most likely tokens")
  Integer topK;

  @Option(names = "--seed", description = "random seed for sampling")
  Long seed;

  @Option(names = "--stop", description = "stop string (repeatable)")
  List<String> stop;

  @Option(names = "--ignore-eos", description = "keep generating past end-of-sequence tokens")
  boolean ignoreEos;

  @Override
  public Integer call() {
    SamplingParams p = SamplingParams.defaults()
        .withMaxNewTokens(maxNewTokens)
        .withTemperature(temperature != null ? temperature : 0.0)
        .withTopP(topP)
        .withTopK(topK)
        .withSeed(seed)
        .withStop(stop != null ? stop : List.of())
        .withIgnoreEos(ignoreEos);
    if (prompt.randomLength != null && prompt.randomLength < 1)
      throw new IllegalArgumentException("--random-prompt must be at least 1, got " + prompt.randomLength);
    try (Engine e = engine.open()) {
      System.err.println("device: " + e.device());
      GenerationRequest req = prompt.inputIds != null ? GenerationRequest.ids(Json.ids(prompt.inputIds), p)
          : prompt.text != null ? GenerationRequest.text(prompt.text, p)
          : GenerationRequest.ids(randomIds(prompt.randomLength, e.config().vocabSize()), p);
      GenerationResult r = e.generate(req);
      if (r.text() != null) System.out.println(r.text());
      ObjectNode o = Json.object();
      o.set("output_ids", Json.MAPPER.valueToTree(r.outputIds()));
      if (r.text() != null) o.put("text", r.text());
      o.put("finish_reason", r.finishReason().wire());
      if (r.stopReason() != null) o.put("stop_reason", r.stopReason());
      o.put("prompt_tokens", r.promptTokens());
      o.put("completion_tokens", r.completionTokens());
      ObjectNode t = o.putObject("timings");
      t.put("queue_ms", r.timings().queueMs());
      t.put("prefill_ms", r.timings().prefillMs());
      t.put("decode_ms", r.timings().decodeMs());
      t.put("total_ms", r.timings().totalMs());
      t.put("first_token_ms", r.timings().firstTokenMs());
      if (r.completionTokens() > 1) {
        t.put("decode_ms_per_token", r.timings().decodeMs() / (r.completionTokens() - 1));
        t.put("decode_ms_median", r.timings().decodeStepMedianMs());
        t.set("decode_steps_ms", Json.MAPPER.valueToTree(r.decodeStepsMs()));
      }
      System.out.println(Json.line(o));
    }
    return 0;
  }

  private int[] randomIds(int n, int vocab) {
    return new Random(seed != null ? seed : 0).ints(n, 0, vocab).toArray();
  }
}
