package ai.lserve.spark.source;

import org.apache.spark.sql.connector.metric.CustomMetric;
import org.apache.spark.sql.connector.metric.CustomSumMetric;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;

/** What {@code format("lserve")} shows on its scan node in the SQL UI. */
public final class SourceMetrics {
  private SourceMetrics() {}

  static final String ROWS = "lserveRows", ERRORS = "lserveErrors", PROMPT_TOKENS = "lservePromptTokens",
      GENERATED_TOKENS = "lserveGeneratedTokens", GENERATION_MS = "lserveGenerationMs";

  static CustomMetric[] supported() {
    return new CustomMetric[] {new Rows(), new Errors(), new PromptTokens(), new GeneratedTokens(), new GenerationTime()};
  }

  static CustomTaskMetric value(String name, long v) {
    return new CustomTaskMetric() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public long value() {
        return v;
      }
    };
  }

  public static final class Rows extends CustomSumMetric {
    @Override
    public String name() {
      return ROWS;
    }

    @Override
    public String description() {
      return "lserve rows generated";
    }
  }

  public static final class Errors extends CustomSumMetric {
    @Override
    public String name() {
      return ERRORS;
    }

    @Override
    public String description() {
      return "lserve rows with an error";
    }
  }

  public static final class PromptTokens extends CustomSumMetric {
    @Override
    public String name() {
      return PROMPT_TOKENS;
    }

    @Override
    public String description() {
      return "lserve prompt tokens";
    }
  }

  public static final class GeneratedTokens extends CustomSumMetric {
    @Override
    public String name() {
      return GENERATED_TOKENS;
    }

    @Override
    public String description() {
      return "lserve generated tokens";
    }
  }

  public static final class GenerationTime extends CustomSumMetric {
    @Override
    public String name() {
      return GENERATION_MS;
    }

    @Override
    public String description() {
      return "lserve generation time (ms, summed over tasks)";
    }
  }
}
