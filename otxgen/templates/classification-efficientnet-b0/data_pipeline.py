# Data pipeline for image classification (mmpretrain transforms).
#
# train_pipeline augments; test_pipeline only resizes. The model's data_preprocessor normalises,
# so the pipelines keep uint8 images. Use them in a data loader, e.g.
#   train_dataloader = dict(dataset=dict(type='ImageNet', data_root=..., pipeline=train_pipeline), ...)

default_scope = 'mmpretrain'  # registry that resolves the transform types below

image_size = 224  # side of the square crop the model trains on

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=image_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),  # keep the aspect ratio, then crop the centre
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='PackInputs'),
]
