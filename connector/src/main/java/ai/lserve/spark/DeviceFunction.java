package ai.lserve.spark;

import java.util.HashMap;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import scala.jdk.javaapi.CollectionConverters;

/**
 * {@code lserve_device([options])}: the device an engine would use in the task that evaluates the
 * row, and why, without opening an engine; for checking GPU assignment on a cluster.
 */
final class DeviceFunction implements UDF1<scala.collection.Map<String, String>, Row> {
  static final StructType SCHEMA = new StructType()
      .add("device", DataTypes.StringType)
      .add("source", DataTypes.StringType)
      .add("reason", DataTypes.StringType);

  private final HashMap<String, String> session;

  DeviceFunction(Map<String, String> session) {
    this.session = new HashMap<>(session);
  }

  @Override
  public Row call(scala.collection.Map<String, String> options) {
    Map<String, String> call = options == null ? Map.of() : CollectionConverters.asJava(options);
    GpuResolver.Choice c = GpuResolver.here(Settings.parse(Settings.merge(session, call, false)));
    return RowFactory.create(c.device(), c.source(), c.reason());
  }
}
