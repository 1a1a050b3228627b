package ai.lserve.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/** A generated table of long contract-like documents (seeded, so every run gets the same). */
final class Documents {
  private static final String[] PARTIES = {"Acme Corp.", "Globex Ltd.", "Initech LLC", "Umbrella plc", "Hooli Inc.",
    "Stark Industries", "Wayne Enterprises", "Tyrell Corp."};
  private static final String[] CLAUSES = {
    "The Supplier shall deliver the Goods to the Premises on the dates set out in the Schedule.",
    "Payment is due within thirty days of the date of each invoice, without set-off or deduction.",
    "Either party may terminate this Agreement on ninety days' written notice to the other party.",
    "Neither party shall disclose the Confidential Information of the other party to any third party.",
    "The Customer shall indemnify the Supplier against all losses arising from a breach of this Agreement.",
    "This Agreement is governed by the laws of England and Wales and the courts of London have jurisdiction.",
    "All intellectual property rights in the Deliverables vest in the Customer upon payment in full.",
    "The Supplier's total liability under this Agreement shall not exceed the fees paid in the preceding year.",
    "Any notice under this Agreement shall be in writing and delivered by hand or by recorded delivery.",
    "Neither party is liable for delay caused by events beyond its reasonable control, including flood and fire."};

  static final StructType SCHEMA = new StructType()
      .add("id", DataTypes.IntegerType)
      .add("title", DataTypes.StringType)
      .add("body", DataTypes.StringType);

  private Documents() {}

  /** {@code rows} documents of about {@code words} words each. */
  static Dataset<Row> generate(SparkSession spark, int rows, int words, int partitions) {
    Random r = new Random(42);
    List<Row> out = new ArrayList<>();
    for (int i = 0; i < rows; i++) {
      String a = PARTIES[r.nextInt(PARTIES.length)], b = PARTIES[r.nextInt(PARTIES.length)];
      StringBuilder body = new StringBuilder("SERVICES AGREEMENT between " + a + " and " + b + ".\n\n");
      int n = 0, clause = 1;
      while (n < words) {
        String c = CLAUSES[r.nextInt(CLAUSES.length)];
        body.append(clause++).append(". ").append(c).append('\n');
        n += c.split(" ").length + 1;
      }
      out.add(RowFactory.create(i, "Agreement " + i + ": " + a + " / " + b, body.toString()));
    }
    return spark.createDataFrame(out, SCHEMA).repartition(partitions);
  }
}
