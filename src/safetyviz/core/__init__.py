"""The vocabulary and plumbing everything else uses: codes and labels (vocab, i18n), periods,
errors, settings, paths, small files, and firm identity (credit codes, name keys). Imports
nothing of safetyviz outside itself.
"""
