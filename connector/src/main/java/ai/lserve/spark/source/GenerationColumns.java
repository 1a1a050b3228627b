package ai.lserve.spark.source;

import ai.lserve.spark.Outcome;
import java.util.Arrays;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The columns {@code format("lserve")} adds after the input's: the fields of {@link Outcome}, with
 * the text named {@code generated_text} (input tables often have a {@code text} column).
 */
final class GenerationColumns {
  static final StructType SCHEMA;

  static {
    StructField[] f = Outcome.SCHEMA.fields().clone();
    f[0] = new StructField("generated_text", f[0].dataType(), true, f[0].metadata());
    SCHEMA = new StructType(f);
  }

  private GenerationColumns() {}

  /** The input's columns followed by the generation columns; a clash of names is an error. */
  static StructType append(StructType input) {
    for (String n : SCHEMA.fieldNames())
      if (Arrays.stream(input.fieldNames()).anyMatch(n::equalsIgnoreCase))
        throw new IllegalArgumentException(String.format(
            "the input already has a column '%s', which format(\"lserve\") adds (%s); rename the input column",
            n, String.join(", ", SCHEMA.fieldNames())));
    StructType out = input;
    for (StructField f : SCHEMA.fields()) out = out.add(f);
    return out;
  }

  /** The index of a generation column, or -1 for an input column. */
  static int indexOf(String name) {
    String[] names = SCHEMA.fieldNames();
    for (int i = 0; i < names.length; i++) if (names[i].equals(name)) return i;
    return -1;
  }
}
