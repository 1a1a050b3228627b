package ai.lserve.spark.source;

import ai.lserve.spark.Progress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.metric.CustomMetric;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Plans the scan: one input partition per packed group of file splits; each reader reads the input
 * columns that are asked for or that the prompt needs (plus partition columns), and generates only
 * when a generation column is asked for.
 */
final class LServeScan implements Scan, Batch {
  private final String name;
  private final Map<String, String> options;
  private final SourceOptions source;
  private final FileInput input;
  private final StructType required;

  LServeScan(String name, Map<String, String> options, SourceOptions source, FileInput input, StructType required) {
    this.name = name;
    this.options = options;
    this.source = source;
    this.input = input;
    this.required = required;
  }

  @Override
  public StructType readSchema() {
    return required;
  }

  @Override
  public String description() {
    return name + " prompt=" + source.template();
  }

  @Override
  public Batch toBatch() {
    return this;
  }

  @Override
  public CustomMetric[] supportedCustomMetrics() {
    return SourceMetrics.supported();
  }

  @Override
  public InputPartition[] planInputPartitions() {
    return input.partitions().toArray(InputPartition[]::new);
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    boolean generate = false;
    Set<String> dataColumns = new LinkedHashSet<>();
    for (StructField f : required.fields()) {
      if (GenerationColumns.indexOf(f.name()) >= 0) generate = true;
      else dataColumns.add(f.name());
    }
    if (generate) dataColumns.addAll(PromptTemplate.columns(source.template()));
    // Read the data columns needed, in file order; the reader appends every partition column.
    List<StructField> read = new ArrayList<>();
    for (StructField f : input.dataSchema().fields())
      if (dataColumns.stream().anyMatch(f.name()::equalsIgnoreCase)) read.add(f);
    StructType readData = new StructType(read.toArray(StructField[]::new));
    StructType rowSchema = readData;
    for (StructField f : input.partitionSchema().fields()) rowSchema = rowSchema.add(f);

    int[] inputOrdinal = new int[required.size()], generationIndex = new int[required.size()];
    for (int i = 0; i < required.size(); i++) {
      String n = required.fields()[i].name();
      generationIndex[i] = GenerationColumns.indexOf(n);
      inputOrdinal[i] = generationIndex[i] >= 0 ? -1 : PromptTemplate.find(rowSchema, n);
    }
    return new GenerationReaderFactory(input.reader(readData), rowSchema,
        generate ? PromptTemplate.bind(source.template(), rowSchema) : null, required, inputOrdinal,
        generationIndex, new HashMap<>(options), Progress.of(SparkSession.active()));
  }
}
