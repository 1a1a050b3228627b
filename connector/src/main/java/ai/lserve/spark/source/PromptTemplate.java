package ai.lserve.spark.source;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructType;

/**
 * A prompt made of text and input columns: {@code "Summarize: {body}"}; doubled braces stand for
 * literal ones. A row with a null column gives a null prompt (no generation), as SQL's
 * concat would.
 */
final class PromptTemplate implements Serializable {
  private final String[] texts; // texts[i] comes before column i; one more text than columns
  private final int[] ordinals;
  private final DataType[] types;

  private PromptTemplate(String[] texts, int[] ordinals, DataType[] types) {
    this.texts = texts;
    this.ordinals = ordinals;
    this.types = types;
  }

  /** The template of a prompt column. */
  static String column(String name) {
    return "{" + name + "}";
  }

  /** Column names the template refers to, in order of first use. */
  static Set<String> columns(String template) {
    Set<String> out = new LinkedHashSet<>();
    parse(template, new ArrayList<>(), out, new ArrayList<>());
    return out;
  }

  /** Binds the template to the columns of {@code schema}, the rows it will render. */
  static PromptTemplate bind(String template, StructType schema) {
    List<String> texts = new ArrayList<>();
    List<String> names = new ArrayList<>();
    parse(template, texts, new LinkedHashSet<>(), names);
    int[] ordinals = new int[names.size()];
    DataType[] types = new DataType[names.size()];
    for (int i = 0; i < names.size(); i++) {
      int at = find(schema, names.get(i));
      StructField f = schema.fields()[at];
      DataType t = f.dataType();
      if (!(t instanceof StringType || t instanceof NumericType || t instanceof BooleanType))
        throw new IllegalArgumentException(String.format(
            "prompt column '%s' has type %s; prompts can be made of strings, numbers and booleans",
            f.name(), f.dataType().sql()));
      ordinals[i] = at;
      types[i] = f.dataType();
    }
    return new PromptTemplate(texts.toArray(String[]::new), ordinals, types);
  }

  /** The prompt of a row, or null when a column it uses is null. */
  String render(InternalRow row) {
    StringBuilder sb = new StringBuilder(texts[0]);
    for (int i = 0; i < ordinals.length; i++) {
      if (row.isNullAt(ordinals[i])) return null;
      sb.append(row.get(ordinals[i], types[i])).append(texts[i + 1]);
    }
    return sb.toString();
  }

  static int find(StructType schema, String name) {
    String[] names = schema.fieldNames();
    for (int i = 0; i < names.length; i++) if (names[i].equals(name)) return i;
    for (int i = 0; i < names.length; i++) if (names[i].equalsIgnoreCase(name)) return i;
    throw new IllegalArgumentException(String.format(
        "the prompt refers to column '%s', which the input does not have; its columns are %s",
        name, String.join(", ", names)));
  }

  private static void parse(String t, List<String> texts, Set<String> columns, List<String> uses) {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      if ((c == '{' || c == '}') && i + 1 < t.length() && t.charAt(i + 1) == c) {
        text.append(c);
        i++;
      } else if (c == '{') {
        int end = t.indexOf('}', i + 1);
        if (end < 0) throw new IllegalArgumentException("template has an unclosed '{' at " + i + ": " + t);
        String name = t.substring(i + 1, end).trim();
        if (name.isEmpty()) throw new IllegalArgumentException("template has an empty '{}' at " + i + ": " + t);
        texts.add(text.toString());
        text.setLength(0);
        columns.add(name);
        uses.add(name);
        i = end;
      } else if (c == '}') {
        throw new IllegalArgumentException("template has a lone '}' at " + i + " (write '}}' for a brace): " + t);
      } else {
        text.append(c);
      }
    }
    texts.add(text.toString());
  }
}
