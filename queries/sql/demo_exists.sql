-- Whether demo (or any) tenant data is loaded: `make run` loads the demo only on first start.
SELECT EXISTS (SELECT 1 FROM public.companies)
