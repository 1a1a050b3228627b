package ai.lserve.spark;

import ai.lserve.engine.runtime.Engine;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.util.LongAccumulator;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The body of {@code lserve_generate} (text) and {@code lserve_generate_result} (struct): one row's
 * prompt goes to this executor's shared engine, which batches it with the rows of the other tasks.
 * Session options are captured on the driver when the query is analysed.
 */
final class GenerateFunction implements UDF2<String, scala.collection.Map<String, String>, Object> {
  private final boolean struct;
  private final HashMap<String, String> session;
  private final LongAccumulator rows, tokens;
  private transient Map<Map<String, String>, Settings> parsed;

  GenerateFunction(boolean struct, Map<String, String> session, Progress progress) {
    this.struct = struct;
    this.session = new HashMap<>(session);
    this.rows = progress.rows();
    this.tokens = progress.tokens();
  }

  @Override
  public Object call(String prompt, scala.collection.Map<String, String> options) {
    if (prompt == null) return null;
    Settings.OnError onError = struct ? Settings.OnError.NULL : Settings.OnError.FAIL;
    Settings s;
    try {
      s = settings(options == null ? Map.of() : CollectionConverters.asJava(options));
    } catch (IllegalArgumentException e) {
      rows.add(1);
      return fail(prompt, onError, Outcome.failed(e.getMessage()));
    }
    Engine engine = Generation.engine(s);
    Outcome out = Generation.await(Generation.submit(engine, s, prompt));
    rows.add(1);
    tokens.add(out.generatedTokens());
    return out.ok() ? (struct ? out.toRow() : out.text()) : fail(prompt, s.onError(onError), out);
  }

  private Object fail(String prompt, Settings.OnError onError, Outcome out) {
    if (onError == Settings.OnError.FAIL)
      throw new IllegalArgumentException(String.format("%s cannot generate %s: %s",
          struct ? LServe.GENERATE_RESULT : LServe.GENERATE, Generation.describe(prompt), out.error()));
    return struct ? out.toRow() : null;
  }

  /** Parsed settings per distinct option map; option maps are usually one literal. */
  private Settings settings(Map<String, String> call) {
    if (parsed == null)
      parsed = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Map<String, String>, Settings> e) {
          return size() > 64;
        }
      };
    Settings s = parsed.get(call);
    if (s == null) {
      s = Settings.parse(Settings.merge(session, call, false));
      parsed.put(Map.copyOf(call), s);
    }
    return s;
  }
}
