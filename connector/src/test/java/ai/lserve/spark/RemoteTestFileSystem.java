package ai.lserve.spark;

import java.net.URI;
import org.apache.hadoop.fs.RawLocalFileSystem;

/** The local disk under the scheme lservetest://, standing in for HDFS or S3 in tests. */
public class RemoteTestFileSystem extends RawLocalFileSystem {
  static final String SCHEME = "lservetest";

  @Override
  public URI getUri() {
    return URI.create(SCHEME + ":///");
  }

  @Override
  public String getScheme() {
    return SCHEME;
  }
}
