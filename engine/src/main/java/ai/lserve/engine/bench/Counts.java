package ai.lserve.engine.bench;

import java.util.Arrays;

/** Comma-separated positive counts of a command-line option, {@code N} or {@code Nk} (N × 1024). */
public final class Counts {
  private Counts() {}

  public static int[] parse(String option, String csv) {
    String[] parts = csv.split(",");
    int[] out = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      String p = parts[i].trim().toLowerCase();
      boolean kilo = p.endsWith("k");
      long v;
      try {
        v = Long.parseLong(kilo ? p.substring(0, p.length() - 1) : p) * (kilo ? 1024 : 1);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            option + ": '" + parts[i].trim() + "' is not a count (use N or Nk, e.g. 8k = 8192)");
      }
      if (v < 1 || v > Integer.MAX_VALUE)
        throw new IllegalArgumentException(option + ": '" + parts[i].trim() + "' must be between 1 and " + Integer.MAX_VALUE);
      out[i] = (int) v;
    }
    if (Arrays.stream(out).distinct().count() != out.length)
      throw new IllegalArgumentException(option + ": '" + csv + "' repeats a value");
    return out;
  }
}
