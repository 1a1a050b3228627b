package ai.lserve.spark;

import ai.lserve.engine.runtime.Timings;
import com.esotericsoftware.kryo.Kryo;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * {@code spark.kryo.registrator=ai.lserve.spark.LServeKryoRegistrator}: the connector's value
 * classes, for jobs that cache or shuffle them with {@code spark.kryo.registrationRequired=true}.
 */
public final class LServeKryoRegistrator implements KryoRegistrator {
  @Override
  public void registerClasses(Kryo kryo) {
    register(kryo, Outcome.class);
    register(kryo, Timings.class);
    register(kryo, GpuResolver.Choice.class);
  }

  private static <T extends Record> void register(Kryo kryo, Class<T> type) {
    kryo.register(type, new RecordSerializer<>(type));
  }
}
