"""SmartPizza: the end-to-end demo (data generator, demo workspace runner, HTML report)."""
