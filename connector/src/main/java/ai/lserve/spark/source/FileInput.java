package ai.lserve.spark.source;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.PartitionedFileUtil;
import org.apache.spark.sql.execution.datasources.FileFormat;
import org.apache.spark.sql.execution.datasources.FilePartition;
import org.apache.spark.sql.execution.datasources.FileStatusWithMetadata;
import org.apache.spark.sql.execution.datasources.HadoopFsRelation;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.PartitionDirectory;
import org.apache.spark.sql.execution.datasources.PartitionedFile;
import org.apache.spark.sql.sources.Filter;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.Function1;
import scala.collection.Iterator;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The input of {@code format("lserve")}, resolved on the driver to the files Spark itself would
 * scan (the relation under {@code spark.read.format(f).load(p)} or {@code spark.table(t)}), so
 * executors read their own splits the way Spark's file scan does and nothing is collected on the
 * driver.
 */
final class FileInput {
  private final SparkSession spark;
  private final HadoopFsRelation relation;

  private FileInput(SparkSession spark, HadoopFsRelation relation) {
    this.spark = spark;
    this.relation = relation;
  }

  static FileInput resolve(SparkSession spark, SourceOptions o) {
    Dataset<Row> df = o.table() != null
        ? spark.table(o.table())
        : spark.read().format(o.format()).options(o.inputOptions()).load(o.path());
    LogicalPlan plan = df.queryExecution().optimizedPlan();
    if (plan instanceof LogicalRelation lr && lr.relation() instanceof HadoopFsRelation r) {
      if (!r.overlappedPartCols().isEmpty())
        throw new IllegalArgumentException("the input " + o.describe() + " has data columns that are also partition columns");
      return new FileInput(spark, r);
    }
    throw new IllegalArgumentException(String.format(
        "format(\"lserve\") reads files, but the input %s is a %s; read it into a DataFrame and use the SQL "
            + "function instead: df.selectExpr(\"*\", \"lserve_generate(<prompt>) AS generated_text\")",
        o.describe(), plan.nodeName()));
  }

  /** Data columns then partition columns, as the file reader returns them. */
  StructType schema() {
    List<StructField> f = new ArrayList<>(List.of(relation.dataSchema().fields()));
    f.addAll(List.of(relation.partitionSchema().fields()));
    return new StructType(f.toArray(StructField[]::new));
  }

  StructType dataSchema() {
    return relation.dataSchema();
  }

  StructType partitionSchema() {
    return relation.partitionSchema();
  }

  /** The splits to read, packed into partitions as Spark's file scan packs them. */
  List<FilePartition> partitions() {
    Seq<PartitionDirectory> dirs = relation.location().listFiles(emptySeq(), emptySeq());
    long maxSplitBytes = FilePartition.maxSplitBytes(spark, dirs);
    List<PartitionedFile> splits = new ArrayList<>();
    for (PartitionDirectory d : CollectionConverters.asJava(dirs))
      for (FileStatusWithMetadata f : CollectionConverters.asJava(d.files())) {
        org.apache.hadoop.fs.Path p = f.getPath();
        boolean splitable = relation.fileFormat().isSplitable(spark, relation.options(), p);
        splits.addAll(CollectionConverters.asJava(
            PartitionedFileUtil.splitFiles(f, p, splitable, maxSplitBytes, d.values())));
      }
    splits.sort(Comparator.comparingLong(PartitionedFile::length).reversed());
    return new ArrayList<>(CollectionConverters.asJava(FilePartition.getFilePartitions(spark, toSeq(splits), maxSplitBytes)));
  }

  /** A serializable function reading one split: the {@code readColumns} then the partition columns. */
  Function1<PartitionedFile, Iterator<org.apache.spark.sql.catalyst.InternalRow>> reader(StructType readColumns) {
    // Row by row: the reader buffers rows, and only Spark's own scan can consume columnar batches.
    @SuppressWarnings("unchecked") // Scala's updated[V1 >: V] seen from Java
    scala.collection.immutable.Map<String, String> options = relation.options()
        .updated(FileFormat.OPTION_RETURNING_BATCH(), "false");
    return relation.fileFormat().buildReaderWithPartitionValues(spark, relation.dataSchema(),
        relation.partitionSchema(), readColumns, FileInput.<Filter>emptySeq(), options,
        spark.sessionState().newHadoopConfWithOptions(relation.options()));
  }

  private static <T> Seq<T> emptySeq() {
    return toSeq(List.of());
  }

  private static <T> Seq<T> toSeq(List<T> list) {
    return CollectionConverters.asScala(list).toList();
  }
}
