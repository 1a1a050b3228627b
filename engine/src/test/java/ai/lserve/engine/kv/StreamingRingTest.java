package ai.lserve.engine.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class StreamingRingTest {
  @Test
  void sinkPagesStayAndRecentPagesRotate() {
    StreamingRing r = new StreamingRing(2, new int[] {10, 11, 20, 21, 22});
    assertEquals(10, r.page(0));
    assertEquals(11, r.page(127));
    assertEquals(20, r.page(128));
    assertEquals(22, r.page(4 * 64));
    assertEquals(20, r.page(5 * 64)); // logical page 5 reuses the slot of page 2
  }

  @Test
  void shrinkingKeepsTheWindowPagesWhereTheSmallRingLooksForThem() {
    int[] pages = IntStream.range(100, 100 + 2 + 12).toArray();
    StreamingRing r = new StreamingRing(2, pages.clone());
    int next = 1000, window = 256;
    int[] before = new int[window + 1];
    for (int i = 0; i <= window; i++) before[i] = r.page(next - window + i);
    int[] freed = r.shrink(next, window, 5);
    assertEquals(7, r.pages().length);
    assertEquals(7, freed.length);
    for (int i = 0; i <= window; i++) assertEquals(before[i], r.page(next - window + i), "token " + (next - window + i));
    Set<Integer> all = new HashSet<>();
    for (int p : r.pages()) all.add(p);
    for (int p : freed) all.add(p);
    assertEquals(14, all.size()); // every page is kept or freed, once
    assertArrayEquals(new int[] {100, 101}, Arrays.copyOf(r.pages(), 2));
    for (int p : freed) assertNotEquals(r.page(next), p);
  }
}
