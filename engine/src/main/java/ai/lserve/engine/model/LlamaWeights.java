package ai.lserve.engine.model;

import java.util.List;

/**
 * All tensors of a Llama model, memory-mapped.
 *
 * @param lmHead the output projection; the very same object as {@code embedTokens} when the
 *     embeddings are tied
 */
public record LlamaWeights(
    WeightTensor embedTokens,
    List<LayerWeights> layers,
    WeightTensor finalNorm,
    WeightTensor lmHead) {}
