package ai.lserve.engine.cli;

import ai.lserve.engine.model.SyntheticModel;
import ai.lserve.engine.model.SyntheticShape;
import ai.lserve.engine.model.SyntheticWriter;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.sparse.HeadPattern;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "synth", description = "Write the random model --model synthetic:NAME uses as a Hugging Face checkpoint"
    + " (bf16 safetensors shards, index, config.json, and its head pattern as " + Engine.PATTERN_FILE + ").")
final class SynthCommand implements Callable<Integer> {
  @Option(names = "--shape", required = true, description = "llama-3-8b, llama-2-7b, minitron-4b or tiny")
  String shape;

  @Option(names = "--out", required = true, description = "directory to create (must not hold a model)")
  Path out;

  @Option(names = "--layers", description = "keep only the first N decoder layers (to shrink it for tests)")
  Integer layers;

  @Option(names = "--shard-bytes", description = "largest shard file (default 5e9, as Hugging Face)")
  Long shardBytes;

  @Override
  public Integer call() {
    SyntheticShape s = SyntheticShape.named(shape);
    if (layers != null) s = s.withLayers(layers);
    SyntheticModel model = new SyntheticModel(s, SyntheticModel.DEFAULT_SEED);
    List<Path> files = SyntheticWriter.write(model, out, shardBytes != null ? shardBytes : SyntheticWriter.DEFAULT_SHARD_BYTES);
    HeadPattern.writeGates(out.resolve(Engine.PATTERN_FILE), model.gates());
    System.out.printf("wrote synthetic:%s (%d layers, %.2f GB of bf16 weights) to %s in %d shard%s%n", s.name(), s.layers(),
        s.weightBytes() / 1e9, out, files.size(), files.size() == 1 ? "" : "s");
    ObjectNode o = Json.object();
    o.put("shape", s.name());
    o.put("layers", s.layers());
    o.put("weight_bytes", s.weightBytes());
    o.put("shards", files.size());
    o.put("out", out.toString());
    System.out.println(Json.line(o));
    return 0;
  }
}
