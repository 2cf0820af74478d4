/* Placeholder until the init lands. */
int main(void)
{
	return 1;
}
