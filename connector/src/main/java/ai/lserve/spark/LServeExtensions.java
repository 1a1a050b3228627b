package ai.lserve.spark;

import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.SparkSessionExtensionsProvider;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import scala.Tuple3;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * {@code spark.sql.extensions=ai.lserve.spark.LServeExtensions}: the lserve SQL functions in every
 * session without calling {@link LServe#register} (for spark-sql, Thrift server, PySpark).
 */
public final class LServeExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit>
    implements SparkSessionExtensionsProvider {
  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    for (FunctionBuilder.Kind k : FunctionBuilder.Kind.values())
      extensions.injectFunction(new Tuple3<>(FunctionIdentifier.apply(k.sqlName), k.info(), new FunctionBuilder(k)));
    return BoxedUnit.UNIT;
  }
}
