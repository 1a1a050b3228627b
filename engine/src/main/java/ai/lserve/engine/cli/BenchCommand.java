package ai.lserve.engine.cli;

import ai.lserve.engine.bench.BenchMode;
import ai.lserve.engine.bench.BenchReport;
import ai.lserve.engine.bench.BenchResult;
import ai.lserve.engine.bench.BenchRunner;
import ai.lserve.engine.bench.Counts;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Latency and memory per mode, context and batch size on one device: one engine per mode, reused
 * for all its cells after a warm-up request. Writes bench.json, bench.md and the plots into
 * {@code --out} after every cell (so a run cut short keeps what it measured); see
 * docs/BENCHMARKS.md for what each figure means.
 */
@Command(name = "bench", description = "Prefill and decode latency, KV bytes and peak device memory per mode, context and batch.")
final class BenchCommand implements Callable<Integer> {
  @Mixin EngineArgs engine;

  @Option(names = "--modes", defaultValue = "dense,lserve,lserve-kv4",
      description = "dense (16-bit KV), lserve (its defaults), or either with -kv4/-kv8/-kv16 (default: ${DEFAULT-VALUE})")
  String modes;

  @Option(names = "--contexts", required = true, description = "prompt lengths, N or Nk (N × 1024), e.g. 8k,32k,128k")
  String contexts;

  @Option(names = "--batch", defaultValue = "1", description = "concurrent requests per cell, e.g. 1,4,8 (default: ${DEFAULT-VALUE})")
  String batches;

  @Option(names = "--batch-contexts",
      description = "contexts at which batches above 1 run, e.g. 32k (default: every context)")
  String batchContexts;

  @Option(names = "--decode-tokens", defaultValue = "64", description = "tokens decoded per request (default: ${DEFAULT-VALUE})")
  int decodeTokens;

  @Option(names = "--seed", defaultValue = "0", description = "seed of the random prompts (request i: seed + i)")
  long seed;

  @Option(names = "--warmup-tokens", description = "prompt of the warm-up request (default: the smallest context, at most 1024)")
  Integer warmupTokens;

  @Option(names = "--max-seconds", defaultValue = "0",
      description = "cells not started within this many seconds are recorded as skipped (default 0: no limit)")
  double maxSeconds;

  @Mixin BenchOutput output;

  @Option(names = "--date", description = "date of the run (default: today, UTC)")
  String date;

  @Option(names = "--device-name", description = "device description (default: the backend's, e.g. the GPU's name)")
  String deviceName;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    if (engine.mode != null) throw new IllegalArgumentException("--mode: bench sets the mode per cell; use --modes");
    if (engine.kvBits != null)
      throw new IllegalArgumentException("--kv-bits: bench sets the KV precision per mode; use --modes, e.g. lserve-kv4");
    if (engine.maxModelLen != null)
      throw new IllegalArgumentException("--max-model-len: bench sets it from --contexts and --decode-tokens");
    if (decodeTokens < 2)
      throw new IllegalArgumentException("--decode-tokens must be at least 2 (decode is timed between tokens), got " + decodeTokens);
    List<BenchMode> modeList = new ArrayList<>();
    for (String m : modes.split(",")) modeList.add(BenchMode.parse(m));
    if (modeList.stream().map(BenchMode::name).distinct().count() != modeList.size())
      throw new IllegalArgumentException("--modes: '" + modes + "' repeats a mode");
    int[] ctx = Counts.parse("--contexts", contexts), batch = Counts.parse("--batch", batches);
    int[] batchCtx = batchContexts != null ? Counts.parse("--batch-contexts", batchContexts) : ctx;
    for (int c : batchCtx)
      if (Arrays.stream(ctx).noneMatch(x -> x == c))
        throw new IllegalArgumentException("--batch-contexts: " + c + " is not one of --contexts " + contexts);
    List<int[]> cells = new ArrayList<>(); // (context, batch) in the order they run, for every mode
    for (int c : ctx)
      for (int b : batch)
        if (b == 1 || Arrays.stream(batchCtx).anyMatch(x -> x == c)) cells.add(new int[] {c, b});
    EngineOptions base = engine.options();
    int longest = 0;
    for (int[] cell : cells) longest = Math.max(longest, BenchRunner.longest(cell[0], cell[1], decodeTokens, base.maxBatchTokens()));
    base = base.withMaxModelLen(longest + 1);
    int warmup = warmupTokens != null ? warmupTokens : Math.min(1024, Arrays.stream(ctx).min().getAsInt());
    if (warmup < 1) throw new IllegalArgumentException("--warmup-tokens must be at least 1, got " + warmup);

    String command = "lserve " + String.join(" ", spec.commandLine().getParseResult().originalArgs());
    BenchReport report = new BenchReport(deviceName != null ? deviceName : engine.device,
        date != null ? date : LocalDate.now(ZoneOffset.UTC).toString(), command, engine.model);
    output.merge(report);
    settings(report.settings(), base, modeList, ctx, batch, batchCtx, warmup);

    long start = System.nanoTime();
    int total = modeList.size() * cells.size(), done = 0;
    for (BenchMode mode : modeList) {
      int next = 0;
      SparseConfig sparse = mode.apply(engine.sparse());
      try (Engine e = overBudget(start) ? null : Engine.open(engine.source(), base.withSparse(sparse))) {
        if (e != null) {
          if (deviceName == null) report.root().put("device", e.device());
          System.err.printf("bench: %s on %s: warm-up (%d tokens)%n", mode.name(), e.device(), warmup);
          BenchRunner runner = new BenchRunner(e, sparse, decodeTokens, seed);
          runner.warmUp(warmup);
          for (; next < cells.size() && !overBudget(start); next++) {
            int[] cell = cells.get(next);
            BenchResult r = runner.run(mode.name(), cell[0], cell[1]);
            report.add(r);
            report.write(output.out);
            System.err.println(progress(++done, total, r));
          }
        }
      } catch (RuntimeException | Error ex) {
        String why = "engine failed: " + (ex.getMessage() != null ? ex.getMessage() : ex.toString());
        System.err.println("bench: " + mode.name() + ": " + why);
        for (; next < cells.size(); next++, done++) report.add(BenchResult.failed(mode.name(), cells.get(next)[0], cells.get(next)[1], why));
      }
      for (; next < cells.size(); next++, done++)
        report.add(BenchResult.failed(mode.name(), cells.get(next)[0], cells.get(next)[1],
            String.format(Locale.ROOT, "skipped: the time budget (--max-seconds %.0f) was spent", maxSeconds)));
      report.write(output.out);
    }
    String noPlots = report.writePlots(output.out);
    if (noPlots != null) {
      report.root().put("plots_skipped", noPlots + "; render them with 'lserve bench-report --from " + output.out.resolve(BenchReport.JSON) + " --out DIR'");
      System.err.println("bench: no plots: " + noPlots);
    }
    report.write(output.out);
    System.out.println("wrote " + output.out.resolve(BenchReport.JSON) + ", " + output.out.resolve(BenchReport.MARKDOWN)
        + (noPlots == null ? ", prefill.png, decode.png" : ""));
    System.out.println(Json.line(report.root()));
    return 0;
  }

  private boolean overBudget(long start) {
    return maxSeconds > 0 && (System.nanoTime() - start) / 1e9 > maxSeconds;
  }

  private void settings(
      ObjectNode s, EngineOptions o, List<BenchMode> modeList, int[] ctx, int[] batch, int[] batchCtx, int warmup) {
    s.put("modes", String.join(",", modeList.stream().map(BenchMode::name).toList()));
    s.set("contexts", Json.MAPPER.valueToTree(ctx));
    s.set("batches", Json.MAPPER.valueToTree(batch));
    s.set("batch_contexts", Json.MAPPER.valueToTree(batchCtx));
    s.put("decode_tokens", decodeTokens);
    s.put("seed", seed);
    s.put("warmup_tokens", warmup);
    s.put("device", o.device());
    s.put("memory_fraction", o.memoryFraction());
    s.put("kv_cache_bytes", o.kvCacheBytes());
    s.put("max_batch_tokens", o.maxBatchTokens());
    s.put("max_model_len", o.maxModelLen());
    SparseConfig sp = o.sparse();
    s.put("streaming_fraction", sp.streamingFraction());
    s.put("sink", sp.sink());
    s.put("local", sp.local());
    s.put("prefill_local", sp.prefillLocal());
    s.put("budget", sp.budget());
    s.put("reuse_interval", sp.reuseInterval());
  }

  private static String progress(int done, int total, BenchResult r) {
    String cell = String.format(Locale.ROOT, "bench [%d/%d] %s, context %d, batch %d: ", done, total, r.mode(), r.context(), r.batch());
    if (r.error() != null) return cell + r.error();
    return cell + String.format(Locale.ROOT, "prefill %.1f ms (%.0f tokens/s), decode %.2f ms/token (%.1f tokens/s) over %d steps",
        r.prefillMs(), r.prefillTokensPerS(), r.decodeMsPerToken(), r.decodeTokensPerS(), r.decodeSteps());
  }
}
