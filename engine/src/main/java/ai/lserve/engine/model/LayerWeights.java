package ai.lserve.engine.model;

/** One decoder layer's tensors, named after their role (HF names in {@link Checkpoint}). */
public record LayerWeights(
    WeightTensor attnNorm,
    WeightTensor wq,
    WeightTensor wk,
    WeightTensor wv,
    WeightTensor wo,
    WeightTensor ffnNorm,
    WeightTensor wGate,
    WeightTensor wUp,
    WeightTensor wDown) {}
