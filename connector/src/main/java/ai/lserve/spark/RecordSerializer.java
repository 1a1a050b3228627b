package ai.lserve.spark;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.lang.reflect.Constructor;
import java.lang.reflect.RecordComponent;

/**
 * Kryo serializer for a record: its components in order, read back through the canonical
 * constructor (Spark's Kryo cannot set a record's final fields).
 */
final class RecordSerializer<T extends Record> extends Serializer<T> {
  private final RecordComponent[] components;
  private final Constructor<T> constructor;

  RecordSerializer(Class<T> type) {
    components = type.getRecordComponents();
    Class<?>[] types = new Class<?>[components.length];
    for (int i = 0; i < types.length; i++) types[i] = components[i].getType();
    try {
      constructor = type.getDeclaredConstructor(types);
      constructor.setAccessible(true);
    } catch (NoSuchMethodException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void write(Kryo kryo, Output output, T record) {
    try {
      for (RecordComponent c : components) kryo.writeClassAndObject(output, c.getAccessor().invoke(record));
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot serialize " + record.getClass().getName(), e);
    }
  }

  @Override
  public T read(Kryo kryo, Input input, Class<T> type) {
    Object[] values = new Object[components.length];
    for (int i = 0; i < values.length; i++) values[i] = kryo.readClassAndObject(input);
    try {
      return constructor.newInstance(values);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot deserialize " + type.getName(), e);
    }
  }
}
