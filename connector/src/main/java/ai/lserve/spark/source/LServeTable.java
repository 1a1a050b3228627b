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

      @Override
      public void pruneColumns(StructType requiredSchema) {
        required = requiredSchema;
      }

      @Override
      public Scan build() {
        return new LServeScan(name(), merged, source, input, required);
      }
    };
  }
}
