package ai.lserve.spark;

import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.Timings;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * What one row's generation gave: the text, or the error that kept it from running. This is the
 * struct of {@code lserve_generate_result} and the generation columns of {@code format("lserve")}.
 */
public record Outcome(
    String text, String error, String finishReason, Integer promptTokens, Integer completionTokens, Timings timings) {

  public static final StructType TIMINGS = new StructType()
      .add("queue_ms", DataTypes.DoubleType)
      .add("prefill_ms", DataTypes.DoubleType)
      .add("decode_ms", DataTypes.DoubleType)
      .add("total_ms", DataTypes.DoubleType)
      .add("first_token_ms", DataTypes.DoubleType);

  public static final StructType SCHEMA = new StructType()
      .add("text", DataTypes.StringType)
      .add("error", DataTypes.StringType)
      .add("finish_reason", DataTypes.StringType)
      .add("prompt_tokens", DataTypes.IntegerType)
      .add("completion_tokens", DataTypes.IntegerType)
      .add("timings", TIMINGS);

  public static Outcome of(GenerationResult r) {
    return new Outcome(r.text(), null, r.finishReason().wire(), r.promptTokens(), r.completionTokens(), r.timings());
  }

  public static Outcome failed(String error) {
    return new Outcome(null, error, null, null, null, null);
  }

  public boolean ok() {
    return error == null;
  }

  public int generatedTokens() {
    return completionTokens == null ? 0 : completionTokens;
  }

  /** For a Java UDF returning {@link #SCHEMA}. */
  public Row toRow() {
    Row t = timings == null ? null
        : RowFactory.create(timings.queueMs(), timings.prefillMs(), timings.decodeMs(), timings.totalMs(), timings.firstTokenMs());
    return RowFactory.create(text, error, finishReason, promptTokens, completionTokens, t);
  }

  /** The {@link #SCHEMA} fields as Spark-internal values, in order. */
  public Object[] internalValues() {
    InternalRow t = timings == null ? null : new GenericInternalRow(new Object[] {
        timings.queueMs(), timings.prefillMs(), timings.decodeMs(), timings.totalMs(), timings.firstTokenMs()});
    return new Object[] {utf8(text), utf8(error), utf8(finishReason), promptTokens, completionTokens, t};
  }

  private static UTF8String utf8(String s) {
    return s == null ? null : UTF8String.fromString(s);
  }
}
