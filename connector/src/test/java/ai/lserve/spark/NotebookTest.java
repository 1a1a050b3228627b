package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * The notebook is a valid nbformat 4 document, and every SQL statement in it (each triple-quoted
 * or spark.sql("...") string of a code cell that starts with SELECT, WITH or CREATE) runs against
 * the connector, in order, with the notebook's parameters ({@code DOCS}) bound to fewer and shorter
 * documents.
 */
class NotebookTest {
  static final Path NOTEBOOK = TestSpark.repoRoot().resolve("notebooks/lserve_dense_vs_lserve.ipynb");
  static final Pattern SQL = Pattern.compile("\"\"\"(.*?)\"\"\"|spark\\.sql\\(\"([^\"]*)\"\\)", Pattern.DOTALL);
  /** The notebook's DOCS, small: the notebook's nine documents of 2,000-4,000 tokens take minutes on a CPU. */
  static final Map<String, Object> DOCS = Map.of("rows", 3, "min_chars", 450, "max_chars", 600);

  static JsonNode notebook() throws Exception {
    return new ObjectMapper().readTree(Files.readString(NOTEBOOK));
  }

  static String source(JsonNode cell) {
    JsonNode s = cell.get("source");
    if (s.isTextual()) return s.asText();
    StringBuilder sb = new StringBuilder();
    s.forEach(line -> sb.append(line.asText()));
    return sb.toString();
  }

  @Test
  void isValidNbformat4() throws Exception {
    JsonNode nb = notebook();
    assertEquals(4, nb.get("nbformat").asInt());
    assertTrue(nb.get("nbformat_minor").asInt() >= 4);
    assertEquals("python", nb.at("/metadata/kernelspec/language").asText());
    assertTrue(nb.get("cells").size() > 5);
    Set<String> ids = new java.util.HashSet<>();
    for (JsonNode c : nb.get("cells")) {
      String type = c.get("cell_type").asText();
      assertTrue(Set.of("markdown", "code", "raw").contains(type), type);
      assertTrue(c.get("metadata").isObject());
      assertFalse(source(c).isBlank());
      if (nb.get("nbformat_minor").asInt() >= 5) assertTrue(ids.add(c.get("id").asText()), "cell ids are unique");
      if (type.equals("code")) {
        assertTrue(c.get("outputs").isArray());
        assertTrue(c.has("execution_count"));
      }
    }
  }

  @Test
  void itsSqlRunsAgainstTheConnector() throws Exception {
    List<String> statements = new ArrayList<>();
    StringBuilder code = new StringBuilder();
    for (JsonNode c : notebook().get("cells")) {
      if (!c.get("cell_type").asText().equals("code")) continue;
      code.append(source(c)).append('\n');
      Matcher m = SQL.matcher(source(c));
      while (m.find()) {
        String sql = (m.group(1) != null ? m.group(1) : m.group(2)).strip();
        String first = sql.split("\\s+", 2)[0].toUpperCase(Locale.ROOT);
        if (Set.of("SELECT", "WITH", "CREATE").contains(first)) statements.add(sql);
      }
    }
    assertTrue(statements.size() >= 5, "found " + statements);
    assertTrue(statements.stream().anyMatch(s -> s.contains("'mode', 'lserve'")));
    Matcher docs = Pattern.compile("(?m)^DOCS = \\{(.*)}$").matcher(code);
    assertTrue(docs.find(), "the notebook defines DOCS");
    Set<String> keys = new java.util.HashSet<>();
    for (Matcher k = Pattern.compile("\"(\\w+)\":").matcher(docs.group(1)); k.find(); ) keys.add(k.group(1));
    assertEquals(DOCS.keySet(), keys, "the notebook's DOCS parameters");
    SparkSession spark = TestSpark.local();
    spark.conf().set("spark.lserve.max_model_len", "4096"); // as the notebook's session
    spark.conf().set("spark.lserve.ignore_eos", "false");
    try {
      for (String sql : statements) {
        List<Row> rows = spark.sql(sql, DOCS).collectAsList();
        if (sql.startsWith("SELECT")) assertFalse(rows.isEmpty(), sql);
        if (sql.contains("'mode', 'dense'")) { // the questions are asked as the model was trained: it answers them
          long right = rows.stream().filter(r -> r.getString(r.fieldIndex("generated")).strip()
              .equals(r.getString(r.fieldIndex("answer")))).count();
          assertEquals(3, rows.size(), "DOCS rows");
          assertTrue(right >= 2, "dense answers: " + rows);
        }
        if (sql.contains("lserve_generate_result") && List.of(spark.sql(sql, DOCS).columns()).contains("error"))
          for (Row r : rows) assertTrue(r.isNullAt(r.fieldIndex("error")) || r.getLong(0) == 0, "row error: " + r);
      }
    } finally {
      spark.conf().set("spark.lserve.max_model_len", "1024");
      spark.conf().set("spark.lserve.ignore_eos", "true");
    }
  }
}
