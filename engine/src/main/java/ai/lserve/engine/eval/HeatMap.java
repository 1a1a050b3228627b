package ai.lserve.engine.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * An accuracy heat map as a PNG (plain Java 2D, headless): one column per x label (context
 * length), one row per y label (depth or task), cells coloured red (0) through yellow to green
 * (1) with the percentage written in each.
 */
public final class HeatMap {
  private HeatMap() {}

  /**
   * Writes the map. {@code values[y][x]} in [0, 1]; NaN draws an empty (grey) cell.
   */
  public static void write(Path png, String title, String xTitle, List<String> xLabels, String yTitle,
      List<String> yLabels, double[][] values) throws IOException {
    System.setProperty("java.awt.headless", "true");
    int cw = 64, ch = 28, left = 110, top = 56, bottom = 56, right = 90;
    int w = Math.max(left + cw * xLabels.size() + right, 420), h = top + ch * yLabels.size() + bottom;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, w, h);
      g.setColor(Color.BLACK);
      FontMetrics fm;
      try {
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString(title, 10, 22);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        fm = g.getFontMetrics();
      } catch (Throwable e) { // a headless JRE without fonts: the map without its labels
        fm = null;
      }
      for (int y = 0; y < yLabels.size(); y++) {
        for (int x = 0; x < xLabels.size(); x++) {
          double v = values[y][x];
          int px = left + x * cw, py = top + y * ch;
          g.setColor(Double.isNaN(v) ? Color.LIGHT_GRAY : color(v));
          g.fillRect(px, py, cw, ch);
          g.setColor(Color.WHITE);
          g.setStroke(new BasicStroke(1));
          g.drawRect(px, py, cw, ch);
          if (!Double.isNaN(v) && fm != null) {
            String s = String.format(Locale.ROOT, "%.0f", 100 * v);
            g.setColor(Color.BLACK);
            g.drawString(s, px + (cw - fm.stringWidth(s)) / 2, py + (ch + fm.getAscent()) / 2 - 2);
          }
        }
        g.setColor(Color.BLACK);
        String label = yLabels.get(y);
        if (fm != null) g.drawString(label, left - 6 - fm.stringWidth(label), top + y * ch + (ch + fm.getAscent()) / 2 - 2);
      }
      for (int x = 0; x < xLabels.size() && fm != null; x++) {
        String label = xLabels.get(x);
        g.drawString(label, left + x * cw + (cw - fm.stringWidth(label)) / 2, top + yLabels.size() * ch + 16);
      }
      if (fm != null) {
        g.drawString(xTitle, left, top + yLabels.size() * ch + 36);
        g.drawString(yTitle, 10, top - 8);
      }
      // Legend: 0% .. 100%.
      int lx = left + cw * xLabels.size() + 20, lh = Math.max(ch * yLabels.size(), 60);
      for (int i = 0; i < lh; i++) {
        g.setColor(color(1 - (double) i / (lh - 1)));
        g.fillRect(lx, top + i, 14, 1);
      }
      g.setColor(Color.BLACK);
      if (fm != null) {
        g.drawString("100%", lx + 18, top + fm.getAscent());
        g.drawString("0%", lx + 18, top + lh);
      }
    } finally {
      g.dispose();
    }
    Path parent = png.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    if (!ImageIO.write(img, "png", png.toFile())) throw new IOException("no PNG writer");
  }

  /** Red (0) through yellow (0.5) to green (1). */
  static Color color(double v) {
    v = Math.max(0, Math.min(1, v));
    int r = v < 0.5 ? 230 : (int) Math.round(230 - (v - 0.5) * 2 * (230 - 60));
    int gr = v < 0.5 ? (int) Math.round(70 + v * 2 * (200 - 70)) : (int) Math.round(200 - (v - 0.5) * 2 * (200 - 170));
    int b = 70;
    return new Color(r, gr, b);
  }
}
