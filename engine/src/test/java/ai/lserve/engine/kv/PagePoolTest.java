package ai.lserve.engine.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class PagePoolTest {
  @Test
  void takesAllOrNothingAndTakesBack() {
    PagePool pool = new PagePool(5);
    int[] a = pool.take(3);
    assertEquals(2, pool.free());
    assertNull(pool.take(3));
    assertEquals(2, pool.free());
    int[] b = pool.take(2);
    assertEquals(0, pool.free());
    int[] all = new int[5];
    System.arraycopy(a, 0, all, 0, 3);
    System.arraycopy(b, 0, all, 3, 2);
    Arrays.sort(all);
    assertArrayEquals(new int[] {0, 1, 2, 3, 4}, all);
    pool.give(a);
    assertEquals(3, pool.free());
    pool.give(b);
    assertThrows(IllegalStateException.class, () -> pool.give(new int[] {0}));
  }

  @Test
  void pageTableMapsPositionsToPages() {
    PageTable t = new PageTable(new int[] {7, 2, 9});
    assertEquals(192, t.capacity());
    assertEquals(7, t.page(0));
    assertEquals(7, t.page(63));
    assertEquals(2, t.page(64));
    assertEquals(9, t.page(191));
    t.advance(190);
    assertThrows(IllegalStateException.class, () -> t.advance(3));
  }

  @Test
  void layoutSizesPages() {
    KvLayout l = KvLayout.dense(32, 8, 128, KvFormat.F32);
    assertEquals(2L * 32 * 8 * 128 * 4 * 64, l.retrievalPageBytes());
    assertEquals(0, l.streamingPageBytes());
    assertEquals(2, KvLayout.pagesFor(65));
    assertEquals(1, KvLayout.pagesFor(64));
    assertEquals(5, KvLayout.span(257)); // LServe's decode ring: 256 recent tokens and the current one
    assertEquals(2, KvLayout.span(64)); // 64 tokens starting mid-page touch two pages
    assertEquals(1, KvLayout.span(1));
    assertEquals(2, KvLayout.span(65));
  }
}
