package ai.lserve.engine.cli;

import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.KvPlan;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.ModelSource;
import ai.lserve.engine.model.SyntheticModel;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.sparse.HeadPattern;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * KV cache memory of one sequence, from config.json alone, computed by {@link KvPlan} as the
 * engine sizes its pools. Without a pattern file, the requested share of heads is counted as
 * streaming (only the count matters for bytes).
 */
@Command(name = "plan", description = "KV cache bytes of one sequence of N tokens, lserve vs dense bf16 (needs only config.json).")
final class PlanCommand implements Callable<Integer> {
  @Mixin EngineArgs engine;

  @Option(names = "--context", required = true, description = "tokens in the sequence")
  long context;

  @Override
  public Integer call() {
    if (context < 1) throw new IllegalArgumentException("--context must be >= 1");
    boolean synthetic = engine.model.startsWith(ModelSource.SYNTHETIC);
    SyntheticModel model = synthetic ? (SyntheticModel) engine.source() : null;
    LlamaConfig c = synthetic ? model.config() : LlamaConfig.load(Path.of(engine.model, "config.json"));
    SparseConfig s = engine.sparse();
    boolean lserve = s.mode() != SparseConfig.Mode.DENSE;
    Path patternFile = s.pattern() != null ? s.pattern() : Path.of(engine.model, Engine.PATTERN_FILE);
    HeadPattern pattern;
    if (!lserve || s.streamingFraction() == 0) pattern = HeadPattern.allRetrieval(c.numLayers(), c.numKvHeads());
    else if (synthetic && s.pattern() == null) pattern = model.pattern(s.streamingFraction());
    else if (Files.isRegularFile(patternFile)) pattern = HeadPattern.load(patternFile, c, s.streamingFraction());
    else pattern = HeadPattern.fromGates(new double[c.numLayers()][c.numKvHeads()], s.streamingFraction());
    KvFormat format = s.kvBits() != null ? KvFormat.ofBits(s.kvBits()) : lserve ? KvFormat.INT8 : KvFormat.BF16;
    KvLayout layout = new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), format, pattern, lserve);
    KvPlan plan = new KvPlan(layout, s.sink(), s.local(), s.prefillLocal(), engine.options().maxBatchTokens());
    long bytes = plan.bytesPerSequence(context), dense = KvPlan.denseBf16Bytes(c, context);
    System.out.printf("%s, %s KV, %d of %d KV heads streaming: %,d bytes per %,d-token sequence (dense bf16: %,d, ratio %.3f)%n",
        lserve ? "lserve" : "dense", format, pattern.streamingCount(), c.numLayers() * c.numKvHeads(), bytes, context,
        dense, (double) bytes / dense);
    ObjectNode o = Json.object();
    o.put("context", context);
    o.put("mode", lserve ? "lserve" : "dense");
    o.put("kv_bits", format.bits);
    o.put("streaming_heads", pattern.streamingCount());
    o.put("retrieval_heads", c.numLayers() * c.numKvHeads() - pattern.streamingCount());
    o.put("kv_bytes_per_sequence", bytes);
    o.put("kv_bytes_per_sequence_dense_bf16", dense);
    o.put("ratio_to_dense_bf16", (double) bytes / dense);
    o.put("prefill_peak_bytes", plan.prefillPeakBytes(context));
    o.put("retrieval_pages", KvLayout.pagesFor(context));
    o.put("retrieval_page_bytes", layout.retrievalPageBytes());
    o.put("streaming_pages", plan.streamingPagesInDecode());
    o.put("streaming_page_bytes", layout.streamingPageBytes());
    System.out.println(Json.line(o));
    return 0;
  }
}
