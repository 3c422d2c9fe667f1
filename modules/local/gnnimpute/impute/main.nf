process GNNIMPUTE_IMPUTE {
    tag "$meta.id"
    label 'process_medium'
    label 'process_gpu'

    // A task with an accelerator (e.g. `accelerator = 1` from -profile gpu) gets the CUDA
    // environment and runs on the GPU; any other task runs on the CPU.
    conda "${ task.accelerator ? "${moduleDir}/environment.gpu.yml" : "${moduleDir}/environment.yml" }"
    container "${ task.accelerator ? 'ghcr.io/gnnimpute/gnnimpute:0.2.0-cuda' : 'ghcr.io/gnnimpute/gnnimpute:0.2.0' }"

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('gnnimpute'), eval('gnnimpute --version'), emit: versions_gnnimpute, topic: versions
    tuple val("${task.process}"), val('torch'), eval('python3 -c "import torch; print(torch.__version__)"'), emit: versions_torch, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    prefix     = task.ext.prefix ?: "${meta.id}_imputed"
    // the device follows the task's resources; `--device` in ext.args wins
    def device = args.contains('--device') ? '' : "--device ${task.accelerator ? 'cuda' : 'cpu'}"
    """
    # no more threads than the task was given (torch, BLAS, OpenMP, numba)
    export OMP_NUM_THREADS=${task.cpus} MKL_NUM_THREADS=${task.cpus} OPENBLAS_NUM_THREADS=${task.cpus} NUMBA_NUM_THREADS=${task.cpus}
    export MPLCONFIGDIR="\$PWD/.mplconfig" NUMBA_CACHE_DIR="\$PWD/.numba_cache"

    gnnimpute impute \\
        --threads ${task.cpus} \\
        ${device} \\
        ${args} \\
        ${h5ad} \\
        ${prefix}.h5ad
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}_imputed"
    """
    echo stub run, options: ${args}
    touch ${prefix}.h5ad
    """
}
