package ai.lserve.spark.source;

import ai.lserve.spark.Progress;
import java.util.HashMap;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.execution.datasources.FilePartition;
import org.apache.spark.sql.execution.datasources.PartitionedFile;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.LongAccumulator;
import scala.Function1;
import scala.collection.Iterator;

/** Everything a task needs to read its splits and generate; serialized with the task. */
final class GenerationReaderFactory implements PartitionReaderFactory {
  final Function1<PartitionedFile, Iterator<InternalRow>> readFile;
  final StructType rowSchema, output;
  final PromptTemplate template; // null when no generation column is read
  final int[] inputOrdinal, generationIndex;
  final HashMap<String, String> options;
  final LongAccumulator rows, tokens;

  GenerationReaderFactory(Function1<PartitionedFile, Iterator<InternalRow>> readFile, StructType rowSchema,
      PromptTemplate template, StructType output, int[] inputOrdinal, int[] generationIndex,
      HashMap<String, String> options, Progress progress) {
    this.readFile = readFile;
    this.rowSchema = rowSchema;
    this.template = template;
    this.output = output;
    this.inputOrdinal = inputOrdinal;
    this.generationIndex = generationIndex;
    this.options = options;
    this.rows = progress.rows();
    this.tokens = progress.tokens();
  }

  @Override
  public PartitionReader<InternalRow> createReader(InputPartition partition) {
    return new GenerationReader(this, (FilePartition) partition);
  }
}
