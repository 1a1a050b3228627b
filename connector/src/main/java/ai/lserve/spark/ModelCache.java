package ai.lserve.spark;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.SparkEnv;
import org.apache.spark.deploy.SparkHadoopUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a model directory local. A plain path or file: URI is used where it is; any other Hadoop
 * file system URI is copied once per node into the cache directory, named by a fingerprint of the
 * remote files (so a changed model is copied again). Concurrent tasks and executors on one node
 * wait for a single copy: a file lock guards it and the finished copy is moved into place at once.
 */
public final class ModelCache {
  private static final Logger LOG = LoggerFactory.getLogger(ModelCache.class);
  private static final ConcurrentHashMap<Path, Object> JVM_LOCKS = new ConcurrentHashMap<>();

  private ModelCache() {}

  public static Path localize(String model, String cacheDir) {
    return localize(model, cacheDir, hadoopConf());
  }

  static Path localize(String model, String cacheDir, Configuration conf) {
    URI uri = URI.create(model.replace(" ", "%20"));
    if (uri.getScheme() == null || uri.getScheme().equals("file")) {
      Path local = uri.getScheme() == null ? Path.of(model) : Path.of(uri);
      if (!Files.isDirectory(local))
        throw new IllegalArgumentException("model directory " + local.toAbsolutePath() + " does not exist on this node");
      return local;
    }
    try {
      return copy(model, cacheRoot(cacheDir), conf);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot copy model " + model + " to the local cache: " + e.getMessage(), e);
    }
  }

  private static Path cacheRoot(String cacheDir) {
    return cacheDir != null ? Path.of(cacheDir) : Path.of(System.getProperty("java.io.tmpdir"), "lserve-models");
  }

  private static Path copy(String model, Path root, Configuration conf) throws IOException {
    org.apache.hadoop.fs.Path remote = new org.apache.hadoop.fs.Path(model);
    FileSystem fs = remote.getFileSystem(conf);
    org.apache.hadoop.fs.Path base = fs.getFileStatus(remote).getPath();
    if (!fs.getFileStatus(base).isDirectory()) throw new IOException(model + " is not a directory");
    List<FileStatus> files = new ArrayList<>();
    list(fs, base, files);
    files.sort(Comparator.comparing(f -> f.getPath().toString()));
    String baseUri = base.toUri().getPath();
    Path target = root.resolve(base.getName() + "-" + fingerprint(base.toString(), files));
    if (Files.exists(target)) return target;
    Files.createDirectories(root);
    // A file lock keeps other executors on the node out; it cannot be taken twice in one JVM, so
    // this JVM's tasks queue on a monitor first.
    synchronized (JVM_LOCKS.computeIfAbsent(target, k -> new Object())) {
      return copyLocked(model, fs, files, baseUri, target, root);
    }
  }

  private static Path copyLocked(String model, FileSystem fs, List<FileStatus> files, String baseUri, Path target,
      Path root) throws IOException {
    try (FileChannel ch = FileChannel.open(root.resolve(target.getFileName() + ".lock"),
        StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      ch.lock(); // released when the channel closes
      if (Files.exists(target)) return target; // another task or executor copied it meanwhile
      long start = System.nanoTime();
      Path tmp = root.resolve(target.getFileName() + ".tmp-" + UUID.randomUUID());
      Files.createDirectories(tmp);
      long bytes = 0;
      for (FileStatus f : files) {
        String rel = f.getPath().toUri().getPath().substring(baseUri.length()).replaceFirst("^/", "");
        Path dst = tmp.resolve(rel);
        Files.createDirectories(dst.getParent());
        try (InputStream in = fs.open(f.getPath())) {
          bytes += Files.copy(in, dst);
        }
      }
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      LOG.info("lserve: copied model {} ({} files, {} bytes) to {} in {} ms", model, files.size(), bytes, target,
          (System.nanoTime() - start) / 1_000_000);
      return target;
    }
  }

  private static void list(FileSystem fs, org.apache.hadoop.fs.Path dir, List<FileStatus> out) throws IOException {
    for (FileStatus f : fs.listStatus(dir)) {
      if (f.isDirectory()) list(fs, f.getPath(), out);
      else out.add(f);
    }
  }

  private static String fingerprint(String base, List<FileStatus> files) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(base.getBytes(StandardCharsets.UTF_8));
      for (FileStatus f : files)
        md.update((f.getPath() + "\0" + f.getLen() + "\0" + f.getModificationTime() + "\n").getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(md.digest(), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Spark's Hadoop configuration (spark.hadoop.* included) when running inside Spark. */
  private static Configuration hadoopConf() {
    SparkEnv env = SparkEnv.get();
    return env == null ? new Configuration() : SparkHadoopUtil.get().newConfiguration(env.conf());
  }
}
