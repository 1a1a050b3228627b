package ai.lserve.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.expressions.Cast;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.util.MapData;
import org.apache.spark.sql.classic.UserDefinedFunctionUtils;
import org.apache.spark.sql.expressions.SparkUserDefinedFunction;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.MapType;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * Builds the expression of an lserve SQL function from its arguments, on the driver during
 * analysis: checks the argument count and types, validates literal options and the session
 * configuration (so a typo fails the query before any task runs), captures the session's
 * {@code spark.lserve.*} settings, and wraps the function in the same {@code ScalaUDF} that
 * {@code spark.udf().register} would make. One builder serves both {@link LServe#register} and
 * {@link LServeExtensions}, and allows the optional options argument a fixed-arity UDF cannot.
 */
final class FunctionBuilder extends AbstractFunction1<scala.collection.immutable.Seq<Expression>, Expression>
    implements Serializable {
  static final MapType OPTIONS = DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType);

  enum Kind {
    GENERATE(LServe.GENERATE, "prompt[, options]", DataTypes.StringType,
        "Generates text for the prompt with this executor's lserve engine; options is a MAP<STRING,STRING>."),
    GENERATE_RESULT(LServe.GENERATE_RESULT, "prompt[, options]", Outcome.SCHEMA,
        "Like lserve_generate, as a struct of text, error, finish_reason, token counts and timings; a row's own "
            + "problem goes to error instead of failing the query."),
    DEVICE(LServe.DEVICE, "[options]", DeviceFunction.SCHEMA,
        "The device an lserve engine would use in this task (device, source, reason), without loading a model.");

    final String sqlName, arguments, usage;
    final DataType type;

    Kind(String sqlName, String arguments, DataType type, String usage) {
      this.sqlName = sqlName;
      this.arguments = arguments;
      this.type = type;
      this.usage = usage;
    }

    boolean takesPrompt() {
      return this != DEVICE;
    }

    /** What DESCRIBE FUNCTION EXTENDED shows: the usage and every option. */
    ExpressionInfo info() {
      StringBuilder args = new StringBuilder("\n    Arguments:\n");
      if (takesPrompt()) args.append("      * prompt - the prompt, a STRING (other types are cast)\n");
      args.append("      * options - MAP<STRING,STRING> overriding the session's spark.lserve.* settings:\n");
      for (LServeOption o : LServeOption.values())
        if (o.scope() == LServeOption.Scope.ANY)
          args.append("          ").append(o.key()).append(": ").append(o.description()).append('\n');
      return new ExpressionInfo(FunctionBuilder.class.getName(), null, sqlName,
          "_FUNC_(" + arguments + ") - " + usage, args.append("  ").toString(), "", "", "", "", "", "java_udf");
    }
  }

  private final Kind kind;

  FunctionBuilder(Kind kind) {
    this.kind = kind;
  }

  @Override
  public Expression apply(scala.collection.immutable.Seq<Expression> arguments) {
    List<Expression> args = new ArrayList<>(CollectionConverters.asJava(arguments));
    int min = kind.takesPrompt() ? 1 : 0;
    if (args.size() < min || args.size() > min + 1)
      throw new IllegalArgumentException(String.format("%s takes (%s), got %d argument(s)",
          kind.sqlName, kind.arguments, args.size()));
    SparkSession spark = SparkSession.active();
    LocalModeGuard.check(spark.sparkContext());
    Map<String, String> session = Settings.fromConf(
        CollectionConverters.asJava(SQLConf.get().getAllConfs()));
    if (args.size() == min) args.add(Literal.create(null, OPTIONS));
    Expression options = cast(args.get(min), OPTIONS, "options");
    validate(session, options);
    List<Expression> children = new ArrayList<>();
    if (kind.takesPrompt()) children.add(cast(args.get(0), DataTypes.StringType, "prompt"));
    children.add(options);
    UserDefinedFunction udf = switch (kind) {
      case GENERATE, GENERATE_RESULT -> functions.udf(
          new GenerateFunction(kind == Kind.GENERATE_RESULT, session, Progress.of(spark)), kind.type);
      case DEVICE -> functions.udf(new DeviceFunction(session), kind.type);
    };
    udf = udf.asNondeterministic().withName(kind.sqlName);
    return UserDefinedFunctionUtils.toScalaUDF(
        (SparkUserDefinedFunction) udf, CollectionConverters.asScala(children).toList());
  }

  /** Settles literal options now, so a bad one fails analysis rather than the first task. */
  private void validate(Map<String, String> session, Expression options) {
    Map<String, String> call = new HashMap<>();
    if (options.foldable()) {
      MapData m = (MapData) options.eval(null);
      if (m != null)
        for (int i = 0; i < m.numElements(); i++) {
          String v = m.valueArray().isNullAt(i) ? null : m.valueArray().getUTF8String(i).toString();
          call.put(m.keyArray().getUTF8String(i).toString(), v);
        }
    }
    try {
      Settings s = Settings.parse(Settings.merge(session, call, false));
      if (kind.takesPrompt() && options.foldable()) s.requireModel();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(kind.sqlName + ": " + e.getMessage(), e);
    }
  }

  private Expression cast(Expression e, DataType to, String what) {
    if (e.dataType().sameType(to)) return e;
    if (!Cast.canCast(e.dataType(), to))
      throw new IllegalArgumentException(String.format("%s: the %s must be %s, got %s", kind.sqlName, what,
          to.sql(), e.dataType().sql()));
    return new Cast(e, to, Option.empty());
  }
}
