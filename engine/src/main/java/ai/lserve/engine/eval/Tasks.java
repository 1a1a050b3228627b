package ai.lserve.engine.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Synthetic long-context retrieval cases over filler text, in the formats the bundled
 * {@code lserve-needle-7m} model was trained on ({@code scripts/longctx_tasks.py}; keep the two
 * in step: word lists, templates, value ranges, needle placement). Cases are drawn from a seed:
 * the same seed gives the same cases, another seed new ones.
 *
 * <p>Tasks (RULER-style): {@code passkey} (one 5-digit pass key; the needle-in-a-haystack task),
 * {@code multikey} (four 6-digit "special magic numbers" for four adjective-noun keys, one asked),
 * {@code kv} (many pairs of random 8-character hex keys and values, one asked), {@code vartrack}
 * (two chains of three variable assignments; the answer traces one chain from its last variable
 * to its value: {@code VAR B = VAR A = 12345}).
 *
 * <p>Lengths are characters of the prompt; with the byte-level tokenizer of the bundled model a
 * character is a token.
 */
public final class Tasks {
  private Tasks() {}

  public static final List<String> TASKS = List.of("passkey", "multikey", "kv", "vartrack");

  /** Filler words (scripts/longctx_tasks.py WORDS). */
  static final String[] WORDS = (
      "the of and to in is was that for it as with be on not he by this are at from his but have "
      + "an they which one you were her all she there would their we him been has when who will more "
      + "no if out so said what up its about into than them can only other new some could time these "
      + "two may then do first any my now such like our over man me even most made after also did "
      + "many before must through back years where much your way well down should because each just "
      + "those people how too little state good very make world still own see men work long get here "
      + "between both life being under never day same another know while last might us great old year "
      + "off come since against go came right used take three small house every light water place "
      + "around home hand part high land river city tree field stone road sea green morning garden "
      + "window table letter voice story music paper quiet slowly early open warm").split(" ");

  static final String[] KEY_ADJECTIVES = (
      "amber brave calm dusty eager fancy gentle hollow icy jolly keen lucky misty noble odd "
      + "proud rapid silent tidy vivid wild young zesty bold crisp dark fresh grand humble lazy "
      + "merry polite").split(" ");

  static final String[] KEY_NOUNS = (
      "apple badger candle dragon falcon guitar harbor island jacket kettle lantern meadow "
      + "needle otter pepper quartz rabbit saddle tiger umbrella violin walrus yacht zebra anchor "
      + "beacon comet dolphin ember forest glacier hammer").split(" ");

  static final String HEX = "0123456789abcdef";
  static final String UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

  /** Longest answer of each task in characters (all answers of a task have this length). */
  public static int answerLength(String task) {
    return switch (check(task)) {
      case "passkey" -> 6;
      case "multikey" -> 7;
      case "kv" -> 9;
      default -> 30;
    };
  }

  /** Shortest prompt (characters) a task is generated for, with room for some filler. */
  public static int minLength(String task) {
    return switch (check(task)) {
      case "passkey" -> 160;
      case "multikey" -> 448;
      case "kv" -> 224;
      default -> 288;
    };
  }

  static String check(String task) {
    if (!TASKS.contains(task))
      throw new IllegalArgumentException("unknown task '" + task + "'; tasks are " + String.join(", ", TASKS));
    return task;
  }

  /**
   * One case.
   *
   * @param depth where the (first) needle was asked to go, 0-1; NaN when drawn at random
   * @param question the question that ends the prompt
   * @param answer the expected answer, without the leading space
   * @param needles the needle sentences, in the order of the prompt
   */
  public record Case(String task, int length, double depth, String prompt, String question, String answer,
      List<String> needles) {}

  /**
   * A case whose prompt is exactly {@code promptChars} characters. {@code depth} (0-1) places
   * the passkey needle; NaN draws every needle's depth at random.
   */
  public static Case build(SplittableRandom rng, String task, int promptChars, double depth) {
    List<double[]> depths = new ArrayList<>();
    List<String> needles = new ArrayList<>();
    String question, answer;
    switch (check(task)) {
      case "passkey" -> {
        String v = digits(rng, 5);
        depths.add(new double[] {Double.isNaN(depth) ? rng.nextDouble() : depth});
        needles.add(" The pass key is " + v + ". Remember it. " + v + " is the pass key.");
        question = " What is the pass key? The pass key is";
        answer = v;
      }
      case "multikey" -> {
        List<String> keys = new ArrayList<>(), values = new ArrayList<>();
        while (keys.size() < 4) {
          String k = pick(rng, KEY_ADJECTIVES) + "-" + pick(rng, KEY_NOUNS);
          String v = digits(rng, 6);
          if (!keys.contains(k) && !values.contains(v)) {
            keys.add(k);
            values.add(v);
          }
        }
        for (int i = 0; i < 4; i++) {
          depths.add(new double[] {rng.nextDouble()});
          needles.add(" One of the special magic numbers for " + keys.get(i) + " is: " + values.get(i) + ".");
        }
        int q = rng.nextInt(4);
        question = " What is the special magic number for " + keys.get(q) + "? The special magic number for "
            + keys.get(q) + " is";
        answer = values.get(q);
      }
      case "kv" -> {
        int n = Math.max(4, Math.min(32, promptChars / 512));
        List<String> keys = new ArrayList<>(), values = new ArrayList<>();
        while (keys.size() < n) {
          String k = hex(rng, 8), v = hex(rng, 8);
          if (!keys.contains(k) && !values.contains(v)) {
            keys.add(k);
            values.add(v);
          }
        }
        for (int i = 0; i < n; i++) {
          depths.add(new double[] {rng.nextDouble()});
          needles.add(" Key " + keys.get(i) + " has value " + values.get(i) + ".");
        }
        int q = rng.nextInt(n);
        question = " What is the value of key " + keys.get(q) + "? Key " + keys.get(q) + " has value";
        answer = values.get(q);
      }
      default -> { // vartrack
        List<String> names = new ArrayList<>();
        while (names.size() < 6) {
          String nm = upper(rng, 5);
          if (!names.contains(nm)) names.add(nm);
        }
        String v1 = digits(rng, 5), v2 = digits(rng, 5);
        while (v2.equals(v1)) v2 = digits(rng, 5);
        for (int c = 0; c < 2; c++) {
          List<String> chain = names.subList(3 * c, 3 * c + 3);
          double[] ds = {rng.nextDouble(), rng.nextDouble(), rng.nextDouble()};
          java.util.Arrays.sort(ds);
          depths.add(new double[] {ds[0]});
          needles.add(" VAR " + chain.get(0) + " = " + (c == 0 ? v1 : v2) + ".");
          for (int i = 1; i < 3; i++) {
            depths.add(new double[] {ds[i]});
            needles.add(" VAR " + chain.get(i) + " = VAR " + chain.get(i - 1) + ".");
          }
        }
        String a = names.get(0), b = names.get(1), c = names.get(2);
        question = " Question: What is the value of VAR " + c + "? Answer: VAR " + c + " =";
        answer = "VAR " + b + " = VAR " + a + " = " + v1;
      }
    }
    int used = question.length();
    for (String s : needles) used += s.length();
    int hay = promptChars - used;
    if (hay < 0)
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "a %s prompt of %d characters is too short (the needles and question alone are %d)", task, promptChars, used));
    List<Integer> starts = new ArrayList<>();
    String haystack = filler(rng, hay, starts);
    List<String> ordered = new ArrayList<>();
    String prompt = place(haystack, starts, depths, needles, ordered) + question;
    if (prompt.length() != promptChars) throw new IllegalStateException("prompt length " + prompt.length());
    return new Case(task, promptChars, depth, prompt, question, answer, List.copyOf(ordered));
  }

  /**
   * A document for a batch job: {@code text} (filler holding the needles) followed by {@code question}
   * is a prompt of the trained format; {@code answer} is the expected answer, without the leading space.
   */
  public record Document(int id, String task, String text, String question, String answer) {}

  /**
   * Document {@code id} of the set drawn from {@code seed}: task {@code tasks[id % tasks.size()]},
   * needles at random depths, a prompt (text + question) of a length drawn uniformly from
   * [{@code minChars}, {@code maxChars}] characters. It depends only on its arguments, so any part
   * of a set can be made on its own (a Spark task, a SQL expression).
   */
  public static Document document(long seed, int id, List<String> tasks, int minChars, int maxChars) {
    if (tasks.isEmpty()) throw new IllegalArgumentException("no tasks given; tasks are " + String.join(", ", TASKS));
    if (id < 0) throw new IllegalArgumentException("document id " + id + " is negative");
    int shortest = 0;
    for (String t : tasks) shortest = Math.max(shortest, minLength(t));
    if (minChars < shortest || maxChars < minChars)
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "document lengths %d-%d characters: tasks %s need %d <= min <= max", minChars, maxChars,
          String.join(",", tasks), shortest));
    String task = tasks.get(id % tasks.size());
    SplittableRandom rng = rngFor(seed, "document|" + task + "|" + maxChars, minChars, Double.NaN, id);
    Case c = build(rng, task, minChars + rng.nextInt(maxChars - minChars + 1), Double.NaN);
    String text = c.prompt().substring(0, c.prompt().length() - c.question().length());
    return new Document(id, task, text, c.question(), c.answer());
  }

  /** Documents 0 .. count-1 of {@link #document}'s set. */
  public static List<Document> documents(long seed, int count, List<String> tasks, int minChars, int maxChars) {
    List<Document> out = new ArrayList<>(count);
    for (int id = 0; id < count; id++) out.add(document(seed, id, tasks, minChars, maxChars));
    return out;
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * {@link #document} as a JSON object ({@code id, task, text, question, answer}), for SQL, whose
   * {@code java_method} passes only strings and numbers: {@code from_json(java_method(
   * 'ai.lserve.engine.eval.Tasks', 'documentJson', 7L, id, 'passkey,kv', 2000, 4000),
   * 'id INT, task STRING, text STRING, question STRING, answer STRING')} over {@code range(n)};
   * {@code tasks} is comma-separated.
   */
  public static String documentJson(long seed, long id, String tasks, int minChars, int maxChars) {
    if (id != (int) id) throw new IllegalArgumentException("document id " + id + " is out of range");
    Document d = document(seed, (int) id, List.of(tasks.split(",\\s*")), minChars, maxChars);
    try {
      return JSON.writeValueAsString(d);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Exactly n characters of filler sentences; {@code starts} receives the sentence starts and n. */
  static String filler(SplittableRandom rng, int n, List<Integer> starts) {
    StringBuilder b = new StringBuilder(n + 128);
    while (b.length() < n) {
      int k = 6 + rng.nextInt(9);
      starts.add(b.length());
      b.append(' ');
      for (int i = 0; i < k; i++) {
        String w = pick(rng, WORDS);
        if (i == 0) w = Character.toUpperCase(w.charAt(0)) + w.substring(1);
        else b.append(' ');
        b.append(w);
      }
      b.append('.');
    }
    b.setLength(n);
    starts.removeIf(s -> s >= n);
    starts.add(n);
    return b.toString();
  }

  /** Inserts each needle at the sentence start nearest to its depth (ties: the earlier start). */
  static String place(String haystack, List<Integer> starts, List<double[]> depths, List<String> needles, List<String> ordered) {
    int n = haystack.length();
    record Spot(int pos, int index) {}
    List<Spot> spots = new ArrayList<>();
    for (int i = 0; i < needles.size(); i++) {
      double target = depths.get(i)[0] * n;
      int best = starts.get(0);
      for (int s : starts) if (Math.abs(s - target) < Math.abs(best - target)) best = s;
      spots.add(new Spot(best, i));
    }
    spots.sort((a, b) -> a.pos != b.pos ? Integer.compare(a.pos, b.pos) : Integer.compare(a.index, b.index));
    StringBuilder out = new StringBuilder(n + 1024);
    int prev = 0;
    for (Spot s : spots) {
      out.append(haystack, prev, s.pos).append(needles.get(s.index));
      ordered.add(needles.get(s.index));
      prev = s.pos;
    }
    return out.append(haystack, prev, n).toString();
  }

  static String pick(SplittableRandom rng, String[] words) {
    return words[rng.nextInt(words.length)];
  }

  static String digits(SplittableRandom rng, int k) {
    int lo = (int) Math.pow(10, k - 1);
    return Integer.toString(lo + rng.nextInt(9 * lo));
  }

  static String hex(SplittableRandom rng, int k) {
    StringBuilder b = new StringBuilder(k);
    for (int i = 0; i < k; i++) b.append(HEX.charAt(rng.nextInt(16)));
    return b.toString();
  }

  static String upper(SplittableRandom rng, int k) {
    StringBuilder b = new StringBuilder(k);
    for (int i = 0; i < k; i++) b.append(UPPER.charAt(rng.nextInt(26)));
    return b.toString();
  }

  /** A generator for one case, independent of which other cases are asked for. */
  public static SplittableRandom rngFor(long seed, String task, int length, double depth, int sample) {
    long h = seed * 0x9E3779B97F4A7C15L;
    for (char c : (task + "|" + length + "|" + depth + "|" + sample).toCharArray()) h = (h ^ c) * 0x100000001B3L;
    return new SplittableRandom(h);
  }
}
