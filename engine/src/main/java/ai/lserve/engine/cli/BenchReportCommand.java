package ai.lserve.engine.cli;

import ai.lserve.engine.bench.BenchReport;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Renders a bench report again, merging peer or kernel figures into it: for plots of a run made
 * where Java cannot draw (the GPU host's minimal runtime), or peers measured in a separate step.
 */
@Command(name = "bench-report", description = "Rewrite bench.json, bench.md and the plots of a bench run, merging peers or kernels.")
final class BenchReportCommand implements Callable<Integer> {
  @Option(names = "--from", required = true, description = "bench.json of an earlier run")
  Path from;

  @Mixin BenchOutput output;

  @Override
  public Integer call() {
    BenchReport report = BenchReport.read(from);
    output.merge(report);
    report.root().remove("plots_skipped");
    String noPlots = report.writePlots(output.out);
    if (noPlots != null) report.root().put("plots_skipped", noPlots);
    report.write(output.out);
    System.out.println("wrote " + output.out.resolve(BenchReport.JSON) + ", " + output.out.resolve(BenchReport.MARKDOWN)
        + (noPlots == null ? ", prefill.png, decode.png" : " (no plots: " + noPlots + ")"));
    ObjectNode o = Json.object();
    o.put("out", output.out.toString());
    o.put("results", report.root().path("results").size());
    o.put("peers", report.root().has("peers"));
    o.put("plots", noPlots == null);
    System.out.println(Json.line(o));
    return 0;
  }
}
