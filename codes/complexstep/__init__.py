"""Complex-step saliency for convolutional autoencoders of metal micrographs.

A port of Arumugam & Kiran, "Compact representation and identification of important regions of
metal microstructures using complex-step convolutional autoencoders", Materials & Design (2022).
The modules follow the pipeline: ``images`` and ``synthetic`` provide micrographs, ``architecture``
and ``training`` make the autoencoder (stage 1), ``complex_layers`` and ``attribution`` explain its
code (stage 2), and ``heatmaps`` renders the explanations (stage 3).
"""

import os

# TensorFlow reads these settings once, when it is first imported, and every module of this
# package is imported after this file runs. The first silences pages of start-up chatter on
# machines without a GPU. The second keeps freed CPU memory in TensorFlow's own pool: the
# attribution engines make and drop many full-resolution tensors, and returning each one to the
# operating system more than doubled their running time in page faults.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
