package ai.lserve.engine.bench;

import ai.lserve.engine.sparse.SparseConfig;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One engine configuration of {@code lserve bench}: {@code dense} (16-bit KV), {@code lserve}
 * (LServe's defaults, int8 KV), or either with {@code -kvBITS} for another KV precision
 * ({@code lserve-kv4}, {@code lserve-kv16}, {@code dense-kv8}, ...).
 *
 * @param kvBits the KV precision, or null for the mode's default
 */
public record BenchMode(String name, SparseConfig.Mode mode, Integer kvBits) {
  private static final Pattern SYNTAX = Pattern.compile("(dense|lserve)(?:-kv(4|8|16|32))?");

  public static BenchMode parse(String name) {
    Matcher m = SYNTAX.matcher(name.trim());
    if (!m.matches())
      throw new IllegalArgumentException("--modes: unknown mode '" + name.trim()
          + "' (use dense, lserve, or either with -kv4, -kv8, -kv16 or -kv32, e.g. lserve-kv4)");
    boolean dense = m.group(1).equals("dense");
    Integer bits = m.group(2) != null ? Integer.valueOf(m.group(2)) : dense ? Integer.valueOf(16) : null;
    return new BenchMode(m.group(), dense ? SparseConfig.Mode.DENSE : SparseConfig.Mode.LSERVE, bits);
  }

  /** The sparse settings of this mode on top of the command's own. */
  public SparseConfig apply(SparseConfig base) {
    return base.withMode(mode).withKvBits(kvBits);
  }
}
