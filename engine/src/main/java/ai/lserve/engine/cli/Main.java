package ai.lserve.engine.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code lserve}: the engine's command line. Each command prints human-readable lines first and
 * one JSON object as the last line of stdout (a contract for scripts); errors go to stderr with a
 * non-zero exit code.
 */
@Command(
    name = "lserve",
    mixinStandardHelpOptions = true,
    version = "lserve 0.1.0",
    description = "Long-context Llama inference with LServe sparse attention.",
    subcommands = {InfoCommand.class, LogitsCommand.class, GenerateCommand.class, PlanCommand.class, CalibrateCommand.class, SynthCommand.class, EvalCommand.class, BenchCommand.class, BenchReportCommand.class})
public final class Main {
  public static void main(String[] args) {
    System.exit(run(args));
  }

  static int run(String... args) {
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      cmd.getErr().println("error: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
      if (System.getenv("LSERVE_DEBUG") != null) e.printStackTrace(cmd.getErr());
      return 1;
    });
    return cli.execute(args);
  }
}
