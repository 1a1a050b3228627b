package ai.lserve.engine.model;

import ai.lserve.engine.backend.Backend;
import ai.lserve.engine.backend.Weight;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A Hugging Face Llama model directory: config.json, model.safetensors or shards listed in
 * model.safetensors.index.json, and optionally tokenizer.json and generation_config.json.
 *
 * <p>{@link #open} reads only config files and safetensors headers, and checks every tensor's
 * presence, shape and dtype against the config before any tensor data is mapped, so a broken
 * checkpoint fails in milliseconds with a message naming the file and tensor. Close it to release
 * the file handles; weights already mapped stay valid.
 */
public final class Checkpoint implements ModelSource {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String SINGLE = "model.safetensors";
  private static final String INDEX = "model.safetensors.index.json";

  private final Path directory;
  private final LlamaConfig config;
  private final GenerationConfig generationConfig;
  private final List<SafeTensorsFile> files;

  /** The tensors the model uses (an ignored tied lm_head and stray inv_freq buffers excluded). */
  private final Map<String, SafeTensorsFile> used;

  private LlamaWeights weights;

  private Checkpoint(
      Path directory,
      LlamaConfig config,
      GenerationConfig generationConfig,
      List<SafeTensorsFile> files,
      Map<String, SafeTensorsFile> used) {
    this.directory = directory;
    this.config = config;
    this.generationConfig = generationConfig;
    this.files = files;
    this.used = used;
  }

  public static Checkpoint open(Path modelDir) {
    if (!Files.isDirectory(modelDir)) {
      throw new CheckpointException(modelDir, "not a model directory");
    }
    Path configJson = modelDir.resolve("config.json");
    if (!Files.isRegularFile(configJson)) {
      throw new CheckpointException(modelDir, "no config.json in the model directory");
    }
    LlamaConfig config = LlamaConfig.load(configJson);
    GenerationConfig generation = GenerationConfig.load(modelDir.resolve("generation_config.json"));

    List<SafeTensorsFile> files = new ArrayList<>();
    try {
      Path index = modelDir.resolve(INDEX);
      boolean sharded = Files.exists(index);
      Map<String, SafeTensorsFile> all =
          sharded ? openShards(index, files) : openSingle(modelDir, files);
      Map<String, SafeTensorsFile> used =
          validate(config, all, sharded ? index : modelDir.resolve(SINGLE));
      return new Checkpoint(modelDir, config, generation, files, used);
    } catch (RuntimeException e) {
      files.forEach(Checkpoint::closeQuietly);
      throw e;
    }
  }

  @Override
  public LlamaConfig config() {
    return config;
  }

  public Path directory() {
    return directory;
  }

  @Override
  public String name() {
    return directory.toString();
  }

  @Override
  public Optional<Path> modelDirectory() {
    return Optional.of(directory);
  }

  @Override
  public Weight load(String name, Backend backend) {
    return backend.weight(map(name));
  }

  @Override
  public GenerationConfig generationConfig() {
    return generationConfig;
  }

  @Override
  public Optional<Path> tokenizerJson() {
    return Optional.of(directory.resolve("tokenizer.json")).filter(Files::isRegularFile);
  }

  /** Parameters of the model: the tied embedding counts once, ignored tensors not at all. */
  public long parameterCount() {
    long n = 0;
    for (Map.Entry<String, SafeTensorsFile> e : used.entrySet()) {
      n += e.getValue().tensors().get(e.getKey()).numel();
    }
    return n;
  }

  /**
   * Maps every tensor on first call (must precede {@link #close}) and returns the same object
   * after.
   */
  public synchronized LlamaWeights weights() {
    if (weights == null) {
      WeightTensor embed = map("model.embed_tokens.weight");
      List<LayerWeights> layers = new ArrayList<>(config.numLayers());
      for (int i = 0; i < config.numLayers(); i++) {
        String p = "model.layers." + i + ".";
        layers.add(
            new LayerWeights(
                map(p + "input_layernorm.weight"),
                map(p + "self_attn.q_proj.weight"),
                map(p + "self_attn.k_proj.weight"),
                map(p + "self_attn.v_proj.weight"),
                map(p + "self_attn.o_proj.weight"),
                map(p + "post_attention_layernorm.weight"),
                map(p + "mlp.gate_proj.weight"),
                map(p + "mlp.up_proj.weight"),
                map(p + "mlp.down_proj.weight")));
      }
      WeightTensor head = config.tieWordEmbeddings() ? embed : map("lm_head.weight");
      weights = new LlamaWeights(embed, List.copyOf(layers), map("model.norm.weight"), head);
    }
    return weights;
  }

  @Override
  public void close() {
    files.forEach(Checkpoint::closeQuietly);
  }

  private WeightTensor map(String name) {
    return used.get(name).map(name);
  }

  /** Every tensor the config implies, with its shape, in model order. */
  private static Map<String, long[]> expectedShapes(LlamaConfig c) {
    long hidden = c.hiddenSize();
    long inter = c.intermediateSize();
    Map<String, long[]> m = new LinkedHashMap<>();
    m.put("model.embed_tokens.weight", new long[] {c.vocabSize(), hidden});
    for (int i = 0; i < c.numLayers(); i++) {
      String p = "model.layers." + i + ".";
      m.put(p + "input_layernorm.weight", new long[] {hidden});
      m.put(p + "self_attn.q_proj.weight", new long[] {c.qDim(), hidden});
      m.put(p + "self_attn.k_proj.weight", new long[] {c.kvDim(), hidden});
      m.put(p + "self_attn.v_proj.weight", new long[] {c.kvDim(), hidden});
      m.put(p + "self_attn.o_proj.weight", new long[] {hidden, c.qDim()});
      m.put(p + "post_attention_layernorm.weight", new long[] {hidden});
      m.put(p + "mlp.gate_proj.weight", new long[] {inter, hidden});
      m.put(p + "mlp.up_proj.weight", new long[] {inter, hidden});
      m.put(p + "mlp.down_proj.weight", new long[] {hidden, inter});
    }
    m.put("model.norm.weight", new long[] {hidden});
    m.put("lm_head.weight", new long[] {c.vocabSize(), hidden});
    return m;
  }

  /**
   * Checks the tensor set against the config and returns the tensors the model uses. A tied config
   * ignores a stored lm_head.weight, as transformers does, after checking its shape.
   */
  private static Map<String, SafeTensorsFile> validate(
      LlamaConfig config, Map<String, SafeTensorsFile> all, Path source) {
    Map<String, long[]> expected = expectedShapes(config);
    Map<String, SafeTensorsFile> used = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      String name = e.getKey();
      boolean optional = name.equals("lm_head.weight") && config.tieWordEmbeddings();
      SafeTensorsFile file = all.get(name);
      if (file == null) {
        if (optional) {
          continue;
        }
        throw new CheckpointException(source, "missing tensor " + name);
      }
      TensorInfo info = file.tensors().get(name);
      if (!Arrays.equals(info.shape(), e.getValue())) {
        throw new CheckpointException(
            file.file(),
            String.format(
                "tensor %s has shape %s, config.json implies %s",
                name, Arrays.toString(info.shape()), Arrays.toString(e.getValue())));
      }
      if (!optional) {
        used.put(name, file);
      }
    }
    for (Map.Entry<String, SafeTensorsFile> e : all.entrySet()) {
      String name = e.getKey();
      // Old conversions saved RoPE's inv_freq buffer; it is recomputed from the config.
      if (!expected.containsKey(name) && !name.endsWith(".rotary_emb.inv_freq")) {
        throw new CheckpointException(
            e.getValue().file(),
            "unexpected tensor " + name + " (not in a Llama model as config.json describes it)");
      }
    }
    return used;
  }

  private static Map<String, SafeTensorsFile> openSingle(Path dir, List<SafeTensorsFile> opened) {
    Path file = dir.resolve(SINGLE);
    if (!Files.isRegularFile(file)) {
      throw new CheckpointException(
          dir, "no " + SINGLE + " or " + INDEX + " in the model directory");
    }
    SafeTensorsFile st = SafeTensorsFile.open(file);
    opened.add(st);
    Map<String, SafeTensorsFile> all = new LinkedHashMap<>();
    st.tensors().keySet().forEach(name -> all.put(name, st));
    return all;
  }

  /** Opens every shard the index names and checks each listed tensor is where the index says. */
  private static Map<String, SafeTensorsFile> openShards(Path index, List<SafeTensorsFile> opened) {
    Map<String, String> weightMap = readWeightMap(index);
    Map<String, SafeTensorsFile> shards = new LinkedHashMap<>();
    for (String shardName : weightMap.values()) {
      if (!shards.containsKey(shardName)) {
        Path shard = index.resolveSibling(shardName);
        if (!Files.isRegularFile(shard)) {
          throw new CheckpointException(
              index, "shard " + shardName + " named in weight_map is missing");
        }
        SafeTensorsFile st = SafeTensorsFile.open(shard);
        opened.add(st);
        shards.put(shardName, st);
      }
    }
    for (Map.Entry<String, String> e : weightMap.entrySet()) {
      SafeTensorsFile shard = shards.get(e.getValue());
      if (!shard.tensors().containsKey(e.getKey())) {
        throw new CheckpointException(
            shard.file(),
            "tensor " + e.getKey() + " is mapped to this shard by " + INDEX + " but is not in it");
      }
    }
    Map<String, SafeTensorsFile> all = new LinkedHashMap<>();
    for (SafeTensorsFile st : shards.values()) {
      for (String name : st.tensors().keySet()) {
        SafeTensorsFile previous = all.put(name, st);
        if (previous != null) {
          throw new CheckpointException(
              st.file(), "tensor " + name + " is also in " + previous.file());
        }
      }
    }
    return all;
  }

  private static Map<String, String> readWeightMap(Path index) {
    JsonNode root;
    try {
      root = JSON.readTree(Files.readString(index));
    } catch (JsonProcessingException e) {
      throw new CheckpointException(index, "bad JSON: " + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new CheckpointException(index, "cannot read: " + e, e);
    }
    JsonNode map = root.get("weight_map");
    if (map == null || !map.isObject() || map.isEmpty()) {
      throw new CheckpointException(index, "missing or empty weight_map");
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : map.properties()) {
      if (!e.getValue().isTextual()) {
        throw new CheckpointException(
            index, "weight_map entry " + e.getKey() + " is not a file name");
      }
      weightMap.put(e.getKey(), e.getValue().asText());
    }
    return weightMap;
  }

  private static void closeQuietly(SafeTensorsFile file) {
    try {
      file.close();
    } catch (CheckpointException suppressed) {
      // closing a read-only channel only fails if it is already unusable
    }
  }
}
