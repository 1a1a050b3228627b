package ai.lserve.spark.source;

import ai.lserve.spark.LServeOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The input side of {@code format("lserve")}: files ({@code path} and {@code format}) or a table,
 * the prompt ({@code prompt_column} or {@code template}), and {@code input.*} options for the
 * input's own reader.
 */
record SourceOptions(String path, String format, String table, String template, Map<String, String> inputOptions) {

  /** From merged options (names already checked). */
  static SourceOptions of(Map<String, String> options) {
    String path = options.get(LServeOption.PATH.key());
    String table = options.get(LServeOption.TABLE.key());
    if ((path == null) == (table == null))
      throw new IllegalArgumentException(
          "format(\"lserve\") needs exactly one input: the option 'path' (with 'format') or 'table'");
    String format = options.get(LServeOption.FORMAT.key());
    if (table != null && format != null)
      throw new IllegalArgumentException("option 'format' applies to 'path' inputs, not to 'table'");
    String column = options.get(LServeOption.PROMPT_COLUMN.key());
    String template = options.get(LServeOption.TEMPLATE.key());
    if ((column == null) == (template == null))
      throw new IllegalArgumentException(
          "format(\"lserve\") needs exactly one of the options 'prompt_column' (a column holding the prompt) "
              + "or 'template' (e.g. 'Summarize: {body}')");
    Map<String, String> input = new LinkedHashMap<>();
    options.forEach((k, v) -> {
      if (k.startsWith(LServeOption.INPUT_PREFIX)) input.put(k.substring(LServeOption.INPUT_PREFIX.length()), v);
    });
    return new SourceOptions(path, format == null ? "parquet" : format, table,
        template != null ? template : PromptTemplate.column(column), Map.copyOf(input));
  }

  String describe() {
    return table != null ? "table " + table : format + " files at " + path;
  }
}
