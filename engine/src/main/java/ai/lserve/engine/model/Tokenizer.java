package ai.lserve.engine.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model's {@code tokenizer.json} through Hugging Face tokenizers (DJL's binding). Encoding adds
 * the special tokens the tokenizer's post-processor defines (Llama's BOS), as transformers does.
 * The native tokenizer is not documented as thread-safe, so calls are serialized.
 */
public final class Tokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;

  private Tokenizer(HuggingFaceTokenizer tokenizer) {
    this.tokenizer = tokenizer;
  }

  public static Tokenizer load(Path tokenizerJson) {
    // DJL picks a CUDA build of the native tokenizer where it sees a GPU, and downloads it; the
    // CPU build in the jar does the same work (tokenizing never runs on a GPU) and needs no network.
    if (System.getenv("RUST_FLAVOR") == null && System.getProperty("RUST_FLAVOR") == null)
      System.setProperty("RUST_FLAVOR", "cpu");
    try {
      return new Tokenizer(
          HuggingFaceTokenizer.newInstance(
              tokenizerJson,
              Map.of("addSpecialTokens", "true", "truncation", "false", "padding", "false")));
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(tokenizerJson, "cannot load tokenizer: " + e.getMessage(), e);
    }
  }

  public synchronized int[] encode(String text) {
    long[] ids = tokenizer.encode(text, true, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
    return out;
  }

  /** Text of the ids, special tokens left out. */
  public synchronized String decode(int[] ids) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) l[i] = ids[i];
    return tokenizer.decode(l, true);
  }

  @Override
  public synchronized void close() {
    tokenizer.close();
  }
}
