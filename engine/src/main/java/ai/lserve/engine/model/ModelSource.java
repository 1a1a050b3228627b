package ai.lserve.engine.model;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Weight;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where an engine's model comes from: a config and the weights by their Hugging Face names. A
 * {@link Checkpoint} reads them from a directory; a {@link SyntheticModel} makes random ones of a
 * named shape on the backend itself.
 */
public sealed interface ModelSource extends AutoCloseable permits Checkpoint, SyntheticModel {
  String SYNTHETIC = "synthetic:";

  /** {@code synthetic:NAME} (see {@link SyntheticShape}) or a checkpoint directory. */
  static ModelSource open(String model) {
    return model.startsWith(SYNTHETIC)
        ? new SyntheticModel(SyntheticShape.named(model.substring(SYNTHETIC.length())), SyntheticModel.DEFAULT_SEED)
        : Checkpoint.open(Path.of(model));
  }

  /** The directory, or {@code synthetic:NAME}: for messages. */
  String name();

  LlamaConfig config();

  GenerationConfig generationConfig();

  Optional<Path> tokenizerJson();

  /** The directory that may hold a head pattern file; empty for a synthetic model. */
  Optional<Path> modelDirectory();

  /** The tensor of this name, held by {@code backend}. */
  Weight load(String name, Backend backend);

  @Override
  void close();
}
