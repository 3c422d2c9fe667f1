#!/usr/bin/env nextflow
/*
 * gnnimpute: impute dropout in scRNA-seq count matrices with a graph-attention
 * autoencoder, one task per sample.
 *
 *   nextflow run main.nf --input samplesheet.csv --outdir results [-profile docker|singularity|conda|gpu|...]
 *   nextflow run main.nf --input sample.h5ad     --outdir results
 *   nextflow run main.nf -profile test           --outdir results
 *   nextflow run main.nf --help
 *
 * --input is a CSV samplesheet (assets/schema_input.json: columns sample,h5ad and the
 * optional label_key and layer; relative h5ad paths are read from the samplesheet's
 * folder), or a single .h5ad file. With --benchmark, each sample is also masked,
 * imputed and evaluated.
 *
 *   workflows/gnnimpute.nf                         the workflow
 *   subworkflows/local/utils_gnnimpute_pipeline    parameters, samplesheet, versions
 */

nextflow.enable.dsl = 2

include { GNNIMPUTE               } from './workflows/gnnimpute'
include { PIPELINE_INITIALISATION } from './subworkflows/local/utils_gnnimpute_pipeline'
include { PIPELINE_COMPLETION     } from './subworkflows/local/utils_gnnimpute_pipeline'

workflow {

    main:
    PIPELINE_INITIALISATION(params.help, params.validate_params, params.input)

    GNNIMPUTE(PIPELINE_INITIALISATION.out.samplesheet)

    PIPELINE_COMPLETION(GNNIMPUTE.out.versions, params.outdir)
}
