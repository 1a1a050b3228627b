package ai.lserve.engine.cli;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "logits", description = "Print the full-vocabulary logits of the last N prompt positions.")
final class LogitsCommand implements Callable<Integer> {
  @Mixin EngineArgs engine;

  @Option(names = "--input-ids", required = true, description = "prompt token ids, comma-separated")
  String inputIds;

  @Option(names = "--last", defaultValue = "1", description = "positions to print, from the end (default: ${DEFAULT-VALUE})")
  int last;

  @Override
  public Integer call() {
    int[] ids = Json.ids(inputIds);
    if (last < 1 || last > ids.length)
      throw new IllegalArgumentException("--last must be in [1, " + ids.length + "], got " + last);
    try (Engine e = engine.open()) {
      GenerationResult r = e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)).withPromptLogits(last));
      ObjectNode o = Json.object();
      o.set("logits", Json.MAPPER.valueToTree(r.promptLogits()));
      System.out.println(Json.line(o));
    }
    return 0;
  }
}
