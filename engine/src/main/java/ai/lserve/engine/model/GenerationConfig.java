package ai.lserve.engine.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The sampling defaults a model ships in generation_config.json; every field is null when the file
 * does not give it.
 */
public record GenerationConfig(
    Double temperature,
    Double topP,
    Integer topK,
    Integer maxNewTokens,
    Boolean doSample,
    int[] eosTokenIds,
    Integer bosTokenId) {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static final GenerationConfig NONE =
      new GenerationConfig(null, null, null, null, null, null, null);

  /** The configuration of a model without generation_config.json. */
  public static GenerationConfig none() {
    return NONE;
  }

  /** Reads the file; a missing file is {@link #none()}. */
  public static GenerationConfig load(Path generationConfigJson) {
    if (!Files.exists(generationConfigJson)) {
      return none();
    }
    JsonNode root;
    try {
      root = JSON.readTree(Files.readString(generationConfigJson));
    } catch (JsonProcessingException e) {
      throw new CheckpointException(generationConfigJson, "bad JSON: " + e.getOriginalMessage(), e);
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(generationConfigJson, "cannot read: " + e, e);
    }
    Fields f = new Fields(root, generationConfigJson);
    return new GenerationConfig(
        f.optionalNumber("temperature"),
        f.optionalNumber("top_p"),
        f.optionalInt("top_k"),
        f.optionalInt("max_new_tokens"),
        f.optionalBoolean("do_sample"),
        f.tokenIds("eos_token_id", null),
        f.optionalInt("bos_token_id"));
  }
}
