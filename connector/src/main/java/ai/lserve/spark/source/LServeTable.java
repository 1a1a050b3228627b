package ai.lserve.spark.source;

import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.SupportsPushDownRequiredColumns;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/** The input's columns plus the generation columns; generation runs only if one is read. */
final class LServeTable implements SupportsRead {
  private final Map<String, String> options, merged;
  private final SourceOptions source;
  private final FileInput input;
  private final StructType schema;

  LServeTable(Map<String, String> options, Map<String, String> merged, SourceOptions source, FileInput input) {
    this.options = options;
    this.merged = merged;
    this.source = source;
    this.input = input;
    this.schema = GenerationColumns.append(input.schema());
    PromptTemplate.bind(source.template(), input.schema()); // reject unknown prompt columns now
  }

  Map<String, String> options() {
    return options;
  }

  @Override
  public String name() {
    return "lserve(" + source.describe() + ")";
  }

  @Override
  @SuppressWarnings("deprecation") // Spark 4 derives columns() from it; Spark 3.5 needs it
  public StructType schema() {
    return schema;
  }

  @Override
  public Set<TableCapability> capabilities() {
    return Set.of(TableCapability.BATCH_READ);
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap ignored) {
    return new SupportsPushDownRequiredColumns() {
      private StructType required = schema;

      /**
       * Keeps the columns asked for, each with its full type: Spark may prune inside a struct
       * (e.g. only timings.first_token_ms), but rows are built with whole structs, so a pruned
       * struct type would make Spark read the wrong field.
       */
      @Override
      public void pruneColumns(StructType requiredSchema) {
        StructType kept = new StructType();
        for (String name : requiredSchema.fieldNames()) kept = kept.add(schema.apply(name));
        required = kept;
      }

      @Override
      public Scan build() {
        return new LServeScan(name(), merged, source, input, required);
      }
    };
  }
}
