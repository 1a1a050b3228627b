package ai.lserve.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.sparse.HeadPattern;
import org.junit.jupiter.api.Test;

/** The memory formula of docs/SPARSE.md on the Llama-3-8B shape (32 layers, 8 KV heads, d 128). */
class KvPlanTest {
  static KvPlan llama3(KvFormat f) {
    HeadPattern half = HeadPattern.fromGates(new double[32][8], 0.5);
    return new KvPlan(new KvLayout(32, 8, 128, f, half, true), 128, 256, 8192, 512);
  }

  @Test
  void llama3At128kTokens() {
    long dense = 131072L * 2 * 32 * 8 * 128 * 2;
    long int4 = llama3(KvFormat.INT4).bytesPerSequence(131072), int8 = llama3(KvFormat.INT8).bytesPerSequence(131072);
    // Retrieval heads: keys 64 + 4 + 32 (stats) bytes and values 64 + 4 per token at int4.
    assertEquals(2048L * 128 * 64 * (64 + 4 + 64 + 4 + 32) + 7L * 128 * 64 * 2 * (64 + 4), int4);
    assertTrue(int4 <= 0.2 * dense, "int4 " + (double) int4 / dense);
    assertTrue(int8 <= 0.32 * dense, "int8 " + (double) int8 / dense);
  }

  @Test
  void ringsAndPools() {
    KvPlan p = llama3(KvFormat.INT8);
    assertEquals(2, p.sinkPages());
    assertEquals(5, p.decodeRingPages());
    assertEquals(7, p.streamingPagesInDecode());
    assertEquals(KvLayout.span(8191 + 512), p.prefillRingPages(100_000));
    assertEquals(5, p.prefillRingPages(100)); // a short prompt needs no more than the decode ring
    KvPlan.Pools pools = p.pools(40L << 30, 64, 131072);
    long used = pools.retrievalPages() * p.layout().retrievalPageBytes() + pools.streamingPages() * p.layout().streamingPageBytes();
    assertTrue(used <= 40L << 30 && used > (40L << 30) - p.layout().retrievalPageBytes() - 1);
    assertEquals(64 * 7 + 2 * (p.streamingPagesAtAdmission(131072) - 7), pools.streamingPages());
  }
}
