package ai.lserve.examples;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.udf;

import ai.lserve.engine.eval.Evaluator;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.types.DataTypes;

/** Exact-match scoring of generated answers against an expected-answer column, as {@code lserve eval} scores. */
final class Answers {
  private static final UserDefinedFunction EXACT_MATCH =
      udf((UDF2<String, String, Boolean>) Evaluator::exactMatch, DataTypes.BooleanType);

  private Answers() {}

  /** The rows plus {@code correct}: generated_text equals {@code answer} once surrounding white space is removed. */
  static Dataset<Row> score(Dataset<Row> results) {
    return results.withColumn("correct", EXACT_MATCH.apply(col("generated_text"), col("answer")));
  }

  /** "7/8 (88%): passkey 3/3, multikey 2/3, kv 2/2" for a scored table with a {@code task} column. */
  static String accuracy(Dataset<Row> scored) {
    List<Row> byTask = scored.groupBy("task")
        .agg(count("*"), sum(col("correct").cast("int")))
        .orderBy("task")
        .collectAsList();
    long right = 0, all = 0;
    List<String> parts = new ArrayList<>();
    for (Row r : byTask) {
      long n = r.getLong(1), ok = r.isNullAt(2) ? 0 : r.getLong(2);
      right += ok;
      all += n;
      parts.add(r.getString(0) + " " + ok + "/" + n);
    }
    return String.format(Locale.ROOT, "%d/%d (%.0f%%): %s", right, all, all == 0 ? 0.0 : 100.0 * right / all,
        String.join(", ", parts));
  }
}
