package ai.lserve.engine.cli;

import ai.lserve.engine.model.Checkpoint;
import ai.lserve.engine.model.LlamaConfig;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "info", description = "Print a checkpoint's configuration and parameter count.")
final class InfoCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Hugging Face Llama checkpoint directory")
  Path model;

  @Override
  public Integer call() {
    Checkpoint ckpt = Checkpoint.open(model);
    LlamaConfig c = ckpt.config();
    System.out.println(c.describe());
    System.out.printf("parameters: %,d%n", ckpt.parameterCount());
    ObjectNode o = Json.object();
    o.put("model", model.toString());
    o.set("config", Json.MAPPER.valueToTree(c));
    o.put("parameters", ckpt.parameterCount());
    o.put("tokenizer", ckpt.tokenizerJson().isPresent());
    System.out.println(Json.line(o));
    return 0;
  }
}
