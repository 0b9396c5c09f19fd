"""Reproductions of published tables with i2ilab (run each as ``python -m experiments.<name>``).

- pix2pix_tables: pix2pix Tables 1-3 (FCN-scores of loss, generator and PatchGAN ablations) on the
  synthetic labels -> photo set; measured results in experiments/RESULTS.md.
"""
