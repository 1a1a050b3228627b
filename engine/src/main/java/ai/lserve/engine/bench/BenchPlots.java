package ai.lserve.engine.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * prefill.png and decode.png: time against context at batch 1 (else the smallest batch measured),
 * one line per mode, the transformers peer, and each mode's floor (dashed), on log-log axes.
 */
final class BenchPlots {
  static final String PREFILL = "prefill.png", DECODE = "decode.png";

  private BenchPlots() {}

  static void write(JsonNode report, Path dir) throws IOException {
    System.setProperty("java.awt.headless", "true");
    Files.createDirectories(dir);
    int batch = Integer.MAX_VALUE;
    for (JsonNode c : report.path("results")) if (!c.has("error")) batch = Math.min(batch, c.path("batch").asInt());
    if (batch == Integer.MAX_VALUE) batch = 1;
    String title = report.path("model").asText() + ", " + report.path("device").asText() + ", batch " + batch;
    save(chart("Prefill: " + title, "prefill ms", report, batch, "prefill_ms", "prefill_floor_ms", "prefill_ms"),
        dir.resolve(PREFILL));
    save(chart("Decode: " + title, "ms per token", report, batch, "decode_ms_per_token", "decode_floor_ms",
        "decode_ms_per_token"), dir.resolve(DECODE));
  }

  private static XYChart chart(
      String title, String yTitle, JsonNode report, int batch, String field, String floorField, String peerField) {
    XYChart chart = new XYChartBuilder().width(960).height(600).title(title)
        .xAxisTitle("context (tokens)").yAxisTitle(yTitle).build();
    Styler s = chart.getStyler();
    chart.getStyler().setXAxisLogarithmic(true);
    chart.getStyler().setYAxisLogarithmic(true);
    s.setLegendPosition(Styler.LegendPosition.InsideNW);
    s.setMarkerSize(7);
    Map<String, List<double[]>> measured = new LinkedHashMap<>(), floors = new LinkedHashMap<>();
    for (JsonNode c : report.path("results")) {
      if (c.path("batch").asInt() != batch || !c.path(field).isNumber()) continue;
      double x = c.path("context").asDouble();
      measured.computeIfAbsent(c.path("mode").asText(), k -> new ArrayList<>()).add(new double[] {x, c.get(field).asDouble()});
      if (c.path(floorField).isNumber())
        floors.computeIfAbsent("floor: " + c.path("mode").asText(), k -> new ArrayList<>())
            .add(new double[] {x, c.get(floorField).asDouble()});
    }
    List<double[]> peer = new ArrayList<>();
    for (JsonNode e : report.path("peers").path("transformers"))
      if (e.path("batch").asInt() == batch && e.path(peerField).isNumber())
        peer.add(new double[] {e.path("context").asDouble(), e.get(peerField).asDouble()});
    measured.forEach((name, points) -> add(chart, name, points));
    if (!peer.isEmpty()) add(chart, "transformers (SDPA)", peer);
    floors.forEach((name, points) -> {
      XYSeries f = add(chart, name, points);
      f.setLineStyle(SeriesLines.DASH_DASH);
      f.setMarker(SeriesMarkers.NONE);
    });
    if (chart.getSeriesMap().isEmpty()) add(chart, "no measured cells", new ArrayList<>(List.of(new double[] {1, 1})));
    return chart;
  }

  private static XYSeries add(XYChart chart, String name, List<double[]> points) {
    points.sort((a, b) -> Double.compare(a[0], b[0]));
    double[] x = points.stream().mapToDouble(p -> p[0]).toArray(), y = points.stream().mapToDouble(p -> p[1]).toArray();
    return chart.addSeries(name, x, y);
  }

  private static void save(XYChart chart, Path file) throws IOException {
    BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
  }
}
