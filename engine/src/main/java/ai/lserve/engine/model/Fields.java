package ai.lserve.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;

/** Typed reads of a JSON object's fields whose errors name the file and the field. */
final class Fields {
  final JsonNode root;
  private final Path source;
  private final String prefix;

  Fields(JsonNode root, Path source) {
    this(root, source, "");
  }

  /** Fields of a nested object; {@code prefix} (e.g. "rope_scaling.") qualifies names in errors. */
  Fields(JsonNode root, Path source, String prefix) {
    if (!root.isObject()) {
      throw new CheckpointException(
          source,
          "expected a JSON object" + (prefix.isEmpty() ? "" : " in " + prefix) + ", got " + root);
    }
    this.root = root;
    this.source = source;
    this.prefix = prefix;
  }

  private JsonNode required(String field) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      throw new CheckpointException(source, "missing required field " + prefix + field);
    }
    return v;
  }

  private CheckpointException bad(String field, String expected, JsonNode got) {
    return new CheckpointException(
        source, "field " + prefix + field + " must be " + expected + ", got " + got);
  }

  String requiredText(String field) {
    JsonNode v = required(field);
    if (!v.isTextual()) {
      throw bad(field, "a string", v);
    }
    return v.asText();
  }

  String optionalText(String field, String absent) {
    return root.hasNonNull(field) ? requiredText(field) : absent;
  }

  boolean optionalBoolean(String field, boolean absent) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return absent;
    }
    if (!v.isBoolean()) {
      throw bad(field, "true or false", v);
    }
    return v.asBoolean();
  }

  int positiveInt(String field) {
    JsonNode v = required(field);
    if (!isInt(v) || v.asInt() <= 0) {
      throw bad(field, "a positive integer", v);
    }
    return v.asInt();
  }

  int nonNegativeInt(String field) {
    JsonNode v = required(field);
    if (!isInt(v) || v.asInt() < 0) {
      throw bad(field, "a non-negative integer", v);
    }
    return v.asInt();
  }

  double positiveNumber(String field) {
    JsonNode v = required(field);
    if (!v.isNumber() || !(v.asDouble() > 0) || Double.isInfinite(v.asDouble())) {
      throw bad(field, "a positive number", v);
    }
    return v.asDouble();
  }

  Double optionalNumber(String field) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isNumber()) {
      throw bad(field, "a number", v);
    }
    return v.asDouble();
  }

  Integer optionalInt(String field) {
    return root.hasNonNull(field) ? nonNegativeInt(field) : null;
  }

  Boolean optionalBoolean(String field) {
    return root.hasNonNull(field) ? optionalBoolean(field, false) : null;
  }

  /** Token ids given as one integer or a list of them (eos_token_id is either). */
  int[] tokenIds(String field, int[] absent) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return absent;
    }
    if (isInt(v) && v.asInt() >= 0) {
      return new int[] {v.asInt()};
    }
    if (!v.isArray()) {
      throw bad(field, "a token id or a list of them", v);
    }
    int[] ids = new int[v.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode id = v.get(i);
      if (!isInt(id) || id.asInt() < 0) {
        throw bad(field, "a token id or a list of them", v);
      }
      ids[i] = id.asInt();
    }
    return ids;
  }

  private static boolean isInt(JsonNode v) {
    return v.isIntegralNumber() && v.canConvertToInt();
  }
}
