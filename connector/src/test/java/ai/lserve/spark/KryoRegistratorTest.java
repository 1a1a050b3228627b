package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.lserve.engine.runtime.Timings;
import java.nio.ByteBuffer;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import scala.reflect.ClassTag$;

class KryoRegistratorTest {
  @Test
  void valueClassesRoundTripWithRegistrationRequired() {
    SerializerInstance kryo = new KryoSerializer(new SparkConf()
        .set("spark.kryo.registrator", LServeKryoRegistrator.class.getName())
        .set("spark.kryo.registrationRequired", "true")).newInstance();
    Object[] values = {
      new Outcome("text", null, "length", 3, 4, new Timings(1, 2, 3, 6)),
      Outcome.failed("prompt is empty"),
      new GpuResolver.Choice("cuda:1", "task", "Spark assigned GPU address 1 to the task")
    };
    for (Object v : values) {
      ByteBuffer b = kryo.serialize(v, ClassTag$.MODULE$.Any());
      assertEquals(v, kryo.deserialize(b, ClassTag$.MODULE$.Any()));
    }
  }
}
